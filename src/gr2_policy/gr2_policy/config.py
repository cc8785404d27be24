"""Dataclass configurations for every part of GR-2, and the named presets.

Why dataclasses: one plain, serialisable source of truth that a checkpoint stores as JSON
and that `gr2-model info` can build on the meta device. Choices the paper leaves open are
documented in the package README; the numbers live only here.
"""
from __future__ import annotations

import copy
import dataclasses
import typing
from dataclasses import dataclass, field


@dataclass
class VQGANConfig:
    """A taming-transformers style VQGAN (conv encoder/decoder, vector quantiser)."""
    resolution: int = 64            # square input frames, pixels
    channels: int = 32              # base width of the conv stack
    ch_mult: tuple[int, ...] = (1, 2, 2, 4)   # one entry per level; downsampling f = 2**(len-1)
    num_res_blocks: int = 1
    attn_at_lowest: bool = True     # self-attention at the lowest resolution (and mid block)
    z_channels: int = 64
    embed_dim: int = 64             # codebook vector size
    codebook_size: int = 256
    beta: float = 0.25              # commitment weight
    disc_channels: int = 32         # PatchGAN discriminator width (training only)
    disc_layers: int = 2

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)

    @property
    def grid(self) -> int:
        return self.resolution // self.downsample

    @property
    def tokens_per_frame(self) -> int:
        return self.grid * self.grid


VQGAN_PRESETS: dict[str, VQGANConfig] = {
    # tests: 32 px, f8 -> 4x4 tokens
    "tiny": VQGANConfig(resolution=32, channels=16, ch_mult=(1, 2, 2, 2), num_res_blocks=1,
                        z_channels=32, embed_dim=32, codebook_size=64, disc_channels=16),
    # tests of token groups: 32 px, f4 -> 8x8 tokens, 2x2 groups on tiny's 4x4 positions
    "tiny_f4": VQGANConfig(resolution=32, channels=16, ch_mult=(1, 2, 2), num_res_blocks=1,
                           z_channels=32, embed_dim=32, codebook_size=64, disc_channels=16),
    # CPU-trainable default for sim frames: 64 px, f8 -> 8x8 tokens
    "small": VQGANConfig(channels=16, ch_mult=(1, 2, 4, 4)),
    # the pick_cube recipe's: as small, 512 codes (small objects of six colours need their own codes)
    "sim": VQGANConfig(channels=16, ch_mult=(1, 2, 4, 4), codebook_size=512),
    # pick_cube tokenizer v2 candidates: "sim" decoded red and orange cubes of the head view as
    # yellow (bench/input_visibility.py: colour kept 0/30 red, 0/34 orange): two and four times the codes
    "sim_1024": VQGANConfig(channels=16, ch_mult=(1, 2, 4, 4), codebook_size=1024),
    "sim_2048": VQGANConfig(channels=16, ch_mult=(1, 2, 4, 4), codebook_size=2048),
    # f4 -> 16x16 tokens: a 36-40 mm cube (~5 px at 64 px) covers whole cells instead of part of one.
    # Object colour from the 3x3 cells around it (bench/token_colour_probe.py, head / wrist view):
    # 89 / 75 % against sim_2048's 72 / 66 %; GR-2 tiny-sim's context grows from 391 to 1,543 tokens
    "sim_2048_f4": VQGANConfig(channels=16, ch_mult=(1, 2, 4), codebook_size=2048),
    # 8x8 tokens with four times sim_2048's codes (the context stays 8x8 per view): same probe,
    # 72 / 61 %, so the codebook size is not what loses the colour
    "sim_8192": VQGANConfig(channels=16, ch_mult=(1, 2, 4, 4), codebook_size=8192),
    # paper scale: f16 at 256 px -> 16x16 tokens (taming ImageNet f16 layout)
    "paper": VQGANConfig(resolution=256, channels=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2,
                         z_channels=256, embed_dim=256, codebook_size=1024, disc_channels=64,
                         disc_layers=3),
}


@dataclass
class TextEncoderConfig:
    """Which frozen text encoder produces the instruction embedding."""
    kind: str = "minilm"            # "minilm" (bundled, offline) or "clip" (local directory)
    path: str = ""                  # CLIP: directory with a transformers CLIP checkpoint
    max_tokens: int = 64            # longer instructions are rejected, never truncated

    @property
    def dim(self) -> int:
        return TEXT_KINDS[self.kind]


TEXT_KINDS = {"minilm": 384, "clip": 512}   # kind -> embedding size


@dataclass
class GR2Config:
    """The policy transformer plus the frozen parts it is built around."""
    name: str = "tiny"
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 64
    dropout: float = 0.0
    n_obs_steps: int = 2            # h: observed steps in the context window
    chunk_size: int = 8             # k: predicted action steps
    action_dt: float = 0.1          # seconds between predicted poses
    latent_dim: int = 16            # cVAE latent size
    cvae_layers: int = 2            # depth of the cVAE encoder/decoder MLPs
    pos_scale: float = 0.2          # metres: position deltas are divided by this
    workspace_scale: float = 1.0    # metres: absolute EE positions are divided by this
    views: tuple[str, ...] = ("head_camera", "wrist_camera")
    # Input region per view, (x0, y0, x1, y1) fractions of the frame's centre square
    # (model_input.Crop); a view without one sees the whole square. Set by the token caches a policy
    # is fine-tuned on (their frames were cut so); the node and the evaluators cut theirs the same.
    view_crops: dict = field(default_factory=dict)
    # Image token embedding = learned per-id vector + (when True) a learned projection of the
    # frozen VQGAN codebook vector of that id. Why: codes of a small object (a 5 px cube in an
    # 8 px patch) are rare, so per-id vectors learn slowly; the codebook vectors already place
    # codes of similar content near each other, which the projection shares across ids.
    embed_codebook: bool = False
    # Side t of the square group of t x t neighbouring VQGAN tokens that one GPT position embeds and
    # predicts (1: a position per token). Why: a finer token grid keeps small objects' colours
    # (sim_2048_f4's 16x16 grid, bench/token_colour_probe.py) but a position per token makes the
    # context 4x longer (tiny-sim 391 -> 1,543; step times in bench/results/policy_token_grid.json);
    # t = 2 keeps 8x8 positions per view. A group's embedding is a patch embedding of its t*t tokens
    # (one learned table per place in the group, summed; the codebook projection of their
    # concatenated vectors) and the position before it predicts its t*t tokens, each its own
    # distribution given the same hidden state.
    token_group: int = 1
    # Loss weights: next-frame cross-entropy, cVAE action L1, cVAE KL.
    video_weight: float = 1.0
    action_weight: float = 1.0
    kl_weight: float = 0.01
    vqgan: VQGANConfig = field(default_factory=lambda: copy.deepcopy(VQGAN_PRESETS["tiny"]))
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)

    # ---- derived token layout (see README "Token layout") ----
    @property
    def n_img(self) -> int:
        """VQGAN tokens per view and frame (grid x grid)."""
        return self.vqgan.tokens_per_frame

    @property
    def group_size(self) -> int:
        """Tokens per GPT image position (token_group**2)."""
        return self.token_group ** 2

    @property
    def n_pos(self) -> int:
        """GPT positions per view and frame: (grid / token_group)**2. ValueError when the grid does
        not split into token_group x token_group groups."""
        if self.token_group < 1 or self.vqgan.grid % self.token_group:
            raise ValueError(f"token_group {self.token_group} does not divide the tokenizer's "
                             f"{self.vqgan.grid}x{self.vqgan.grid} token grid")
        return (self.vqgan.grid // self.token_group) ** 2

    @property
    def step_len(self) -> int:
        """Positions per timestep: every view's image positions, then [STATE], then [ACT]."""
        return len(self.views) * self.n_pos + 2

    @property
    def n_steps(self) -> int:
        """Steps the position table covers: h observed + 1 predicted frame."""
        return self.n_obs_steps + 1

    @property
    def block_size(self) -> int:
        return 1 + self.n_steps * self.step_len

    @property
    def vocab(self) -> int:
        """Codebook ids plus one [MISSING] id for absent views (video-only pre-training); the
        embedding table holds group_size such tables, one per place in a token group."""
        return self.vqgan.codebook_size + 1

    @property
    def missing_id(self) -> int:
        return self.vqgan.codebook_size

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "GR2Config":
        """The config `to_dict` wrote, also one written before the field renames (RENAMED_FIELDS)."""
        d = dict(d)
        for old, new in RENAMED_FIELDS.items():
            if old in d:
                if new in d:
                    raise ValueError(f"config has both {old!r} and its new name {new!r}")
                d[new] = d.pop(old)
        vq = dict(d.pop("vqgan"))
        vq["ch_mult"] = tuple(vq["ch_mult"])
        text = TextEncoderConfig(**d.pop("text"))
        d["views"] = tuple(d["views"])
        d["view_crops"] = {v: tuple(c) for v, c in d.get("view_crops", {}).items()}
        return GR2Config(**d, vqgan=VQGANConfig(**vq), text=text)


# Old field name -> new one: the names follow LeRobot's (chunk_size, n_obs_steps, kl_weight), the
# other loss weights named like kl_weight. Checkpoints written before the rename store the old
# names; GR2Config.from_dict reads them through this mapping.
RENAMED_FIELDS = {
    "history": "n_obs_steps",
    "chunk": "chunk_size",
    "loss_video": "video_weight",
    "loss_action": "action_weight",
    "loss_kl": "kl_weight",
}


def _size(name: str, n_layer: int, n_head: int, n_embd: int, **kw) -> GR2Config:
    """Named sizes use the paper-scale tokenizer (f16, 256 px) and CLIP ViT-B/32 text."""
    base = dict(n_obs_steps=4, chunk_size=10, action_dt=0.1, latent_dim=32, cvae_layers=3,
                vqgan=copy.deepcopy(VQGAN_PRESETS["paper"]), text=TextEncoderConfig(kind="clip", max_tokens=77))
    base.update(kw)
    return GR2Config(name=name, n_layer=n_layer, n_head=n_head, n_embd=n_embd, **base)


PRESETS = {
    "tiny": lambda: GR2Config(),
    "tiny-sim": lambda: GR2Config(name="tiny-sim", n_layer=4, n_head=4, n_embd=128, n_obs_steps=2,
                                  chunk_size=10, vqgan=copy.deepcopy(VQGAN_PRESETS["small"])),
    "S": lambda: _size("S", 8, 8, 512),
    "B": lambda: _size("B", 12, 12, 768),
    "L": lambda: _size("L", 24, 16, 1024),
    "XL": lambda: _size("XL", 36, 20, 1280),
}

# Paper trainable-parameter targets (sec. 3.5) and B's total (sec. 3).
PAPER_TRAINABLE = {"S": 30e6, "B": 95e6, "L": 312e6, "XL": 719e6}
PAPER_TOTAL_B = 230e6


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _checked(name: str, tp, value):
    """`value` for the GR2Config field `name` of type `tp` (an int is taken for a float, a list for a
    tuple); TypeError for a value of another type."""
    if tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp in (int, str, bool):
        ok = isinstance(value, tp) and (tp is bool or not isinstance(value, bool))   # bool is an int
    elif typing.get_origin(tp) is tuple:
        element = typing.get_args(tp)[0]
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, element) for v in value)
        value = tuple(value) if ok else value
    else:   # a nested config dataclass
        ok = isinstance(value, tp)
    if not ok:
        raise TypeError(f"GR2Config.{name} must be {_type_name(tp)}, got {type(value).__name__} {value!r}")
    return value


def get_config(name: str, **overrides) -> GR2Config:
    """A fresh GR2Config of preset `name` with `overrides` applied.

    `vqgan` may be a VQGAN_PRESETS name and `text` a text encoder kind instead of a config.
    ValueError for an unknown preset or field (naming the known ones, and the new name of a renamed
    field), TypeError for a value of the wrong type (an int is taken for a float field).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown model config {name!r}; choose one of {sorted(PRESETS)}")
    cfg = PRESETS[name]()
    types = typing.get_type_hints(GR2Config)
    for key, value in overrides.items():
        if key not in types:
            hint = f" (renamed to {RENAMED_FIELDS[key]!r})" if key in RENAMED_FIELDS else ""
            raise ValueError(f"GR2Config has no field {key!r}{hint}; fields: {sorted(types)}")
        if key == "vqgan" and isinstance(value, str):
            if value not in VQGAN_PRESETS:
                raise ValueError(f"unknown VQGAN preset {value!r}; choose one of {sorted(VQGAN_PRESETS)}")
            value = copy.deepcopy(VQGAN_PRESETS[value])
        if key == "text" and isinstance(value, str):
            if value not in TEXT_KINDS:
                raise ValueError(f"unknown text encoder {value!r}; choose one of {list(TEXT_KINDS)}")
            value = TextEncoderConfig(kind=value, max_tokens=77 if value == "clip" else 64)
        setattr(cfg, key, _checked(key, types[key], value))
    return cfg
