"""GR-2: a GPT over [text] + per step ([view images] [state] [act]) tokens.

Token layout (README "Token layout"): position 0 is the projected text embedding; each of
the h+1 steps then contributes every view's image positions (row-major), one [STATE] token and
one [ACT] token. An image position embeds one VQGAN token, or a t x t group of neighbouring
tokens (GR2Config.token_group). The hidden state at the position before an image position
predicts its token(s) (next-frame video loss, cross-entropy, one head per view); the hidden
state at [ACT] of step s feeds the cVAE that outputs the k-step trajectory starting at s.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .action_head import CVAEActionHead, decode_actions
from .config import GR2Config
from .state_encoder import StateEncoder
from .transformer import GPT, Block, KVCache
from .vqgan import VQGAN


def group_tokens(ids: torch.Tensor, grid: int, t: int) -> torch.Tensor:
    """(..., grid*grid) row-major token ids -> (..., (grid/t)**2, t*t): the t x t groups in
    row-major order, each group's tokens row-major."""
    n = grid // t
    x = ids.reshape(*ids.shape[:-1], n, t, n, t).movedim(-3, -2)          # ..., n, n, t, t
    return x.reshape(*ids.shape[:-1], n * n, t * t)


def ungroup_tokens(x: torch.Tensor, grid: int, t: int, tail_dims: int = 0) -> torch.Tensor:
    """Inverse of `group_tokens`: (..., (grid/t)**2, t*t, *tail) -> (..., grid*grid, *tail), with
    `tail_dims` trailing dimensions carried along (e.g. 1 for logits over the codebook)."""
    n = grid // t
    split = x.dim() - 2 - tail_dims
    lead, tail = x.shape[:split], x.shape[split + 2:]
    x = x.reshape(*lead, n, n, t, t, *tail).movedim(split + 2, split + 1)  # ..., n, t, n, t, *tail
    return x.reshape(*lead, grid * grid, *tail)


@dataclass
class Batch:
    """Everything one forward pass needs, already tokenised. S = number of steps (<= h+1).

    text (B, text_dim); tokens (B, S, V, n_img) long, missing views = config.missing_id;
    state_pos (B, S, 3); state_quat (B, S, 4) xyzw; gripper_closure (B, S); state_valid (B, S) bool;
    actions (B, S, k, 10) normalised targets and action_valid (B, S) bool (training only).
    """
    text: torch.Tensor
    tokens: torch.Tensor
    state_pos: torch.Tensor
    state_quat: torch.Tensor
    gripper_closure: torch.Tensor
    state_valid: torch.Tensor
    actions: torch.Tensor | None = None
    action_valid: torch.Tensor | None = None

    def to(self, device) -> "Batch":
        return Batch(**{k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in self.__dict__.items()})


@dataclass
class ActionPrediction:
    """`GR2.predict_actions`' output for a batch of B contexts; k = chunk_size poses at action_dt.

    positions (B, k, 3) metres, base_link; quaternions (B, k, 4) x, y, z, w, base_link; gripper (B, k)
    command 0 open .. 1 closed. actions (B, k, 10): the same chunk as the cVAE outputs it
    (action_head module docstring). hidden (B, T, n_embd) and cache: the transformer's final
    hidden states and KV cache of the context, from which `generate_frame` continues.
    """
    positions: torch.Tensor
    quaternions: torch.Tensor
    gripper: torch.Tensor
    actions: torch.Tensor
    hidden: torch.Tensor
    cache: KVCache


class GR2(nn.Module):
    """The GR-2 model (module docstring): text, image tokens and robot state in; next-frame image
    token logits and the cVAE action chunk out. The VQGAN tokenizer is part of it, frozen."""

    def __init__(self, config: GR2Config):
        super().__init__()
        c = self.config = config
        d, nv, ni = c.n_embd, len(c.views), c.n_pos
        self.text_proj = nn.Linear(c.text.dim, d)
        self.tok_emb = nn.Embedding(c.group_size * c.vocab, d)
        self.view_emb = nn.Parameter(torch.zeros(nv, d))
        self.patch_emb = nn.Parameter(torch.zeros(ni, d))
        self.step_emb = nn.Parameter(torch.zeros(c.n_steps, d))
        self.act_emb = nn.Parameter(torch.zeros(d))
        self.state = StateEncoder(d, c.workspace_scale)
        self.gpt = GPT(n_layer=c.n_layer, n_head=c.n_head, n_embd=d, block_size=c.block_size, dropout=c.dropout)
        self.img_heads = nn.ModuleList(nn.Linear(d, c.group_size * c.vqgan.codebook_size) for _ in range(nv))
        self.action_head = CVAEActionHead(d, c.chunk_size, c.latent_dim, c.cvae_layers)
        self.apply(self._init)
        # GPT-2's residual scaling (Radford et al. 2019, sec. 2.3: weights of residual layers scaled
        # by 1/sqrt(N), N residual layers; nanoGPT model.py: c_proj weights at 0.02/sqrt(2*n_layer)):
        # each block adds two outputs to the residual stream, so its variance stays independent of depth.
        for proj in self.gpt.residual_projections():
            nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * c.n_layer))
        self.vqgan = VQGAN(c.vqgan).requires_grad_(False)   # frozen tokenizer, own init
        self.code_proj = None
        if c.embed_codebook:
            self.enable_codebook_embedding()
        for p in (self.view_emb, self.patch_emb, self.step_emb, self.act_emb):
            nn.init.normal_(p, std=0.02)

    @staticmethod
    def _init(m):
        """GPT-2's initialisation: linear and embedding weights N(0, 0.02), biases zero."""
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def embedding_parameters(self) -> list[nn.Parameter]:
        """The learned embeddings: token tables and the additive view/patch/step/[ACT] vectors."""
        tables = [p for m in self.modules() if isinstance(m, nn.Embedding) for p in m.parameters()]
        return tables + [self.view_emb, self.patch_emb, self.step_emb, self.act_emb]

    def optimizer_groups(self, weight_decay: float) -> list[dict]:
        """AdamW parameter groups of the trainable parameters: [decayed, not decayed].

        Decayed: the weight matrices (>= 2-D; linear layers and projections). Not decayed: biases,
        LayerNorm weights (1-D, as nanoGPT's configure_optimizers) and the embeddings (as minGPT's):
        an embedding row is looked up, not multiplied, and AdamW's decoupled decay shrinks every row
        each step, also the rows of rare image codes that seldom get a gradient to balance it.
        """
        embeddings = {id(p) for p in self.embedding_parameters()}
        trainable = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in trainable if p.dim() >= 2 and id(p) not in embeddings]
        chosen = {id(p) for p in decay}
        return [{"params": decay, "weight_decay": weight_decay},
                {"params": [p for p in trainable if id(p) not in chosen], "weight_decay": 0.0}]

    def enable_codebook_embedding(self) -> None:
        """Add the projection of the frozen codebook vectors to the image token embedding.

        Zero-initialised, so a trained policy it is added to starts out computing exactly what it
        computed before (fine-tuning from a checkpoint built without it).
        """
        c = self.config
        c.embed_codebook = True
        self.code_proj = nn.Linear(c.group_size * c.vqgan.embed_dim, c.n_embd, bias=False)
        nn.init.zeros_(self.code_proj.weight)
        self.code_proj.to(self.tok_emb.weight.device)

    def token_embed(self, groups: torch.Tensor) -> torch.Tensor:
        """(..., group_size) image token ids of one position each (codebook ids or missing_id)
        -> (..., d) content embedding: the sum of each place's table row (+ the codebook projection
        of the group's concatenated codebook vectors)."""
        c = self.config
        place = torch.arange(c.group_size, device=groups.device) * c.vocab
        e = self.tok_emb(groups + place).sum(-2)
        if self.code_proj is not None:
            codebook = self.vqgan.quantizer.codebook.weight
            known = groups < codebook.shape[0]              # [MISSING] has no codebook vector
            vec = codebook[groups.clamp(max=codebook.shape[0] - 1)] * known[..., None]
            e = e + self.code_proj(vec.flatten(-2).to(e.dtype))
        return e

    def group(self, ids: torch.Tensor) -> torch.Tensor:
        """(..., n_img) token ids of a frame -> (..., n_pos, group_size) per GPT position."""
        return group_tokens(ids, self.config.vqgan.grid, self.config.token_group)

    def reset_vqgan(self, vqgan: VQGAN, token_group: int | None = None, keep_vocabulary: bool = False) -> list[str]:
        """Install a trained tokenizer; returns the names of the modules re-initialised for it.

        The same vocabulary (same config and codebook vectors, same token_group): its weights
        replace the policy's copy and nothing else changes ([]). Another tokenizer whose positions
        per view stay the same (more codes; the same preset trained further, whose codes no longer
        mean what they did; or a finer grid with `token_group` = grid ratio, e.g. 16x16 tokens in
        2x2 groups for a policy on 8x8) moves the policy to its vocabulary: what names a code of
        the old tokenizer is re-initialised (token table, next-frame heads, codebook projection);
        the GPT, the patch/view/step embeddings, text, state and action parts keep their weights,
        so fine-tuning re-learns the visual vocabulary only. `token_group` None keeps the policy's.

        `keep_vocabulary`: for a tokenizer fine-tuned from the policy's own (same config and token
        groups, weights moved): its codes keep their ids and roughly their meaning, so its weights
        are installed and the token table, heads and codebook projection kept as a starting point
        ([]). Raises ValueError for another resolution or another number of positions per view, and
        for `keep_vocabulary` with another config or token groups.
        """
        c = self.config
        new, old = vqgan.config, c.vqgan
        group = c.token_group if token_group is None else token_group
        same_layout = new == old and group == c.token_group
        if keep_vocabulary and not same_layout:
            raise ValueError(f"keep_vocabulary needs the policy's tokenizer config and token groups; got {new} "
                             f"in {group}x{group} groups for the policy's {old} in {c.token_group}x{c.token_group}")
        if same_layout and (keep_vocabulary or torch.equal(
                vqgan.quantizer.codebook.weight.detach().cpu(), self.vqgan.quantizer.codebook.weight.detach().cpu())):
            self.vqgan.load_state_dict(vqgan.state_dict())
            return []
        old_side = old.grid // c.token_group
        if new.resolution != old.resolution or new.grid % group or new.grid // group != old_side:
            raise ValueError(f"tokenizer {new.resolution} px / {new.grid}x{new.grid} tokens in {group}x{group} "
                             f"groups differs in token layout from this policy's {old.resolution} px / "
                             f"{old_side}x{old_side} positions per view")
        c.vqgan = copy.deepcopy(new)
        c.token_group = group
        device = self.tok_emb.weight.device
        self.vqgan = VQGAN(c.vqgan).requires_grad_(False).to(device)
        self.vqgan.load_state_dict(vqgan.state_dict())
        self.tok_emb = nn.Embedding(c.group_size * c.vocab, c.n_embd)
        self.img_heads = nn.ModuleList(nn.Linear(c.n_embd, c.group_size * c.vqgan.codebook_size) for _ in c.views)
        changed = ["tok_emb", "img_heads"]
        if self.code_proj is not None:
            self.code_proj = nn.Linear(c.group_size * c.vqgan.embed_dim, c.n_embd, bias=False)
            changed.append("code_proj")
        for name in changed:
            getattr(self, name).apply(self._init)
            getattr(self, name).to(device)
        return changed

    def grow_layers(self, n_layer: int) -> int:
        """Deepen the GPT to `n_layer` blocks; returns how many were added.

        The new blocks go on top of the old ones, initialised as the others (N(0, 0.02)) but with
        their residual projections (attention output, second MLP layer) zero, so each adds nothing
        to the residual stream: the grown model computes exactly what it did (a function-preserving
        deepening, as Net2DeeperNet, Chen et al. 2016), and fine-tuning starts from the trained
        policy with more capacity. Raises ValueError for fewer layers than the model has.
        """
        c = self.config
        added = n_layer - c.n_layer
        if added < 0:
            raise ValueError(f"the model has {c.n_layer} layers; it cannot grow to {n_layer}")
        device = self.text_proj.weight.device
        for _ in range(added):
            block = Block(c.n_embd, c.n_head, c.dropout)
            block.apply(self._init)
            for proj in (block.attn.proj, block.mlp[2]):
                nn.init.zeros_(proj.weight)
                nn.init.zeros_(proj.bias)
            self.gpt.blocks.append(block.to(device))
        c.n_layer = n_layer
        return added

    # ---------------- layout helpers ----------------
    def step_start(self, s: int) -> int:
        return 1 + s * self.config.step_len

    def act_index(self, s: int) -> int:
        return self.step_start(s) + self.config.step_len - 1

    def image_embed(self, ids: torch.Tensor, step: int | torch.Tensor, view: int, patch: torch.Tensor) -> torch.Tensor:
        """(B, group_size) ids of position `patch` of `view` at `step` -> (B, d)."""
        return self.token_embed(ids) + self.view_emb[view] + self.patch_emb[patch] + self.step_emb[step]

    def embed(self, b: Batch) -> torch.Tensor:
        """(B, 1 + S*step_len, d) input embeddings."""
        c = self.config
        B, S, V, N = b.tokens.shape
        if S > c.n_steps or V != len(c.views) or N != c.n_img:
            raise ValueError(f"tokens shape {tuple(b.tokens.shape)} does not fit config "
                             f"(<= {c.n_steps} steps, {len(c.views)} views, {c.n_img} tokens)")
        steps = self.step_emb[:S]
        img = (self.token_embed(self.group(b.tokens)) + self.view_emb[None, None, :, None]
               + self.patch_emb[None, None, None] + steps[None, :, None, None])       # B,S,V,N,d
        st = self.state(b.state_pos, b.state_quat, b.gripper_closure, b.state_valid) + steps[None]
        act = (self.act_emb + steps)[None].expand(B, S, -1)
        per_step = torch.cat([img.flatten(2, 3), st[:, :, None], act[:, :, None]], dim=2)   # B,S,L,d
        text = self.text_proj(b.text)[:, None]
        return torch.cat([text, per_step.flatten(1, 2)], dim=1)

    def forward(self, b: Batch, cache: KVCache | None = None, keep_cache: bool = True):
        return self.gpt(self.embed(b), cache, keep_cache)

    # ---------------- outputs ----------------
    def position_logits(self, h: torch.Tensor, view: int) -> torch.Tensor:
        """(..., d) hidden states before image positions of `view` -> (..., group_size, codebook)."""
        return self.img_heads[view](h).unflatten(-1, (self.config.group_size, self.config.vqgan.codebook_size))

    def image_logits(self, h: torch.Tensor, S: int) -> torch.Tensor:
        """Logits for every image token of steps 1..S-1: (B, S-1, V, n_img, codebook), tokens in
        the tokenizer's row-major order whatever the token_group."""
        c = self.config
        B = h.shape[0]
        out = []
        for s in range(1, S):
            views = []
            for v in range(len(c.views)):
                first = self.step_start(s) + v * c.n_pos
                logits = self.position_logits(h[:, first - 1: first - 1 + c.n_pos], v)   # B, n_pos, G, C
                views.append(ungroup_tokens(logits, c.vqgan.grid, c.token_group, tail_dims=1))
            out.append(torch.stack(views, 1))
        if not out:
            return h.new_zeros(B, 0, len(c.views), c.n_img, c.vqgan.codebook_size)
        return torch.stack(out, 1)

    def act_hidden(self, h: torch.Tensor, S: int) -> torch.Tensor:
        idx = torch.tensor([self.act_index(s) for s in range(S)], device=h.device)
        return h[:, idx]                                                           # B,S,d

    def loss(self, b: Batch) -> dict[str, torch.Tensor]:
        """Video cross-entropy (+ cVAE L1 and KL where actions are given); weights from config."""
        c = self.config
        S = b.tokens.shape[1]
        h, _ = self(b, keep_cache=False)
        logits = self.image_logits(h, S)
        target = b.tokens[:, 1:]
        valid = target != c.missing_id
        if valid.any():
            video = F.cross_entropy(logits[valid].float(), target[valid])
        else:
            video = logits.sum() * 0.0
        out = {"video": video}
        if b.actions is not None:
            act = self.act_hidden(h, S).flatten(0, 1).float()
            l1, kl = self.action_head.loss(act, b.actions.flatten(0, 1), b.action_valid.flatten())
            out["action_l1"], out["kl"] = l1, kl
            if not self.training:       # what inference gets: the chunk from z = 0
                prior_l1, end_err = self.action_head.prior_error(act, b.actions.flatten(0, 1), b.action_valid.flatten())
                out["action_l1_prior"] = prior_l1
                out["action_end_error_m"] = end_err * c.pos_scale
        else:
            out["action_l1"] = out["kl"] = video * 0.0
        out["loss"] = c.video_weight * video + c.action_weight * out["action_l1"] + c.kl_weight * out["kl"]
        return out

    @torch.no_grad()
    def predict_actions(self, b: Batch) -> ActionPrediction:
        """One forward pass over the observed steps -> the chunk decoded (z = 0) from the last [ACT];
        its poses are absolute (base_link), decoded from the offsets to the last observed EE pose of `b`."""
        h, cache = self(b)
        S = b.tokens.shape[1]
        actions = self.action_head.decode(h[:, self.act_index(S - 1)].float())
        # poses in fp32 also under bf16 autocast: its 8-bit mantissa would round a 0.5 m position to 2 mm
        with torch.autocast(device_type=h.device.type, enabled=False):
            pos, quat, grip = decode_actions(b.state_pos[:, -1].float(), b.state_quat[:, -1].float(),
                                             actions.float(), self.config.pos_scale)
        return ActionPrediction(positions=pos, quaternions=quat, gripper=grip, actions=actions,
                                hidden=h, cache=cache)

    @torch.no_grad()
    def generate_frame(self, b: Batch, h: torch.Tensor | None = None, cache: KVCache | None = None,
                       use_cache: bool = True, temperature: float = 0.0,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Autoregressively generate the next step's tokens for every view: (B, V, n_img).

        temperature 0 = greedy. With use_cache=False every token re-runs the whole sequence
        (the reference the KV-cache test compares against).
        """
        c = self.config
        S = b.tokens.shape[1]
        if S >= c.n_steps:
            raise ValueError(f"context already has {S} steps; the model predicts step {c.n_steps - 1} at most")
        if h is None or cache is None:
            h, cache = self(b)
        x_all = self.embed(b)
        last = h[:, -1]
        B = h.shape[0]
        out = torch.empty(B, len(c.views), c.n_pos, c.group_size, dtype=torch.long, device=h.device)
        for v in range(len(c.views)):
            for i in range(c.n_pos):
                logits = self.position_logits(last, v).float()                   # B, G, C
                if temperature > 0:
                    probs = torch.softmax(logits / temperature, -1).flatten(0, 1)
                    nxt = torch.multinomial(probs, 1, generator=generator)[:, 0].view(B, c.group_size)
                else:
                    nxt = logits.argmax(-1)
                out[:, v, i] = nxt
                e = self.image_embed(nxt, S, v, torch.tensor(i, device=h.device))[:, None]
                if use_cache:
                    hh, cache = self.gpt(e, cache)
                    last = hh[:, -1]
                else:
                    x_all = torch.cat([x_all, e], dim=1)
                    last = self.gpt(x_all, keep_cache=False)[0][:, -1]
        return ungroup_tokens(out, c.vqgan.grid, c.token_group)


def count_params(model: nn.Module) -> dict[str, int]:
    """Parameters of `model`: trainable and total."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "total": total}
