"""Training commands end to end on tiny synthetic data: VQGAN, pre-training on videos,
fine-tuning with resume, and a 2-process torchrun DDP run on CPU (gloo)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from gr2_policy.data import Episode, write_npz_episode, write_video

ENV = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")


def _frames(rng, T, r, color):
    """A square moving across a plain background: learnable, non-trivial frames."""
    f = np.full((T, r, r, 3), 40, np.uint8)
    for t in range(T):
        x = (t * 2) % (r - 8)
        f[t, 8:16, x:x + 8] = color
    return f + rng.integers(0, 8, f.shape, dtype=np.uint8)


def make_episodes(folder: Path, n=4, T=12, r=32, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        t = np.arange(T, dtype=np.float32)
        pos = np.stack([0.4 + 0.01 * t, 0.02 * i + 0 * t, 0.3 - 0.005 * t], 1)
        quat = np.tile([0.0, 1.0, 0.0, 0.0], (T, 1))
        closed = (t > T / 2).astype(bool)
        write_npz_episode(folder / f"episode_{i:03d}.npz", Episode(
            instruction=["pick up the red cube", "push the blue block"][i % 2],
            frames={"head_camera": _frames(rng, T, r, (200, 30, 30)),
                    "wrist_camera": _frames(rng, T, r, (30, 30, 200))},
            ee_position=pos, ee_quaternion=quat, gripper_closure=closed, gripper_command=closed.astype(np.float32),
            dt=0.1))


def run(args, **kw):
    r = subprocess.run([sys.executable, "-m", "gr2_policy.train", *args], env=ENV, capture_output=True, text=True, **kw)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("gr2data")
    make_episodes(root / "episodes")
    run(["train-vqgan", "--episodes", str(root / "episodes"), "--vqgan-preset", "tiny", "--out", str(root / "vq"),
         "--steps", "3", "--batch", "4", "--disc-start", "1", "--restart-every", "2", "--threads", "1",
         "--detail-weight", "8", "--colour-weight", "4"])
    return root


def test_vqgan_training_writes_checkpoint_and_held_out_metrics(data):
    import json
    m = json.loads((data / "vq" / "metrics.json").read_text())
    assert m["step"] == 3 and m["held_out_episodes"] == 1
    assert np.isfinite(m["psnr_db"]) and 0 < m["codebook_usage"] <= 1


def test_cell_colour_loss_prices_a_wrong_hue_above_a_small_shift():
    """A 5 px yellow cube on a table: drawn orange in place, the pixel L1 calls that a smaller error
    than drawing it 2 px off; cell_colour_l1 calls it a far larger one, and 0 for the same image."""
    from gr2_policy.train import cell_colour_l1, weighted_l1

    def scene(colour, x0, y0):   # colours in the model's [-1, 1]
        img = torch.empty(1, 3, 64, 64)
        img[:] = torch.tensor([0.6, 0.3, 0.0])[:, None, None]
        img[0, :, y0:y0 + 5, x0:x0 + 5] = torch.tensor(colour)[:, None, None]
        return img
    yellow, orange = [0.9, 0.8, -0.9], [0.9, 0.0, -0.9]
    x = scene(yellow, 20, 30)
    hue, shifted = scene(orange, 20, 30), scene(yellow, 22, 31)
    assert weighted_l1(hue, x, 8.0) < weighted_l1(shifted, x, 8.0)
    assert cell_colour_l1(hue, x, 8) > 10 * cell_colour_l1(shifted, x, 8)
    assert cell_colour_l1(x, x, 8) == 0.0


def test_vqgan_continues_from_init_on_several_folders(data, tmp_path):
    """--init starts from a trained tokenizer (its codebook kept, no data-dependent re-init); each
    --episodes folder gives its own held-out episodes; another preset is refused."""
    import json
    make_episodes(tmp_path / "more", n=3, seed=5)
    out = tmp_path / "vq2"
    common = ["train-vqgan", "--episodes", str(data / "episodes"), str(tmp_path / "more"), "--vqgan-preset", "tiny",
              "--init", str(data / "vq" / "ckpt"), "--steps", "0", "--holdout", "0.3", "--threads", "1"]
    run(common + ["--out", str(out)])
    m = json.loads((out / "metrics.json").read_text())
    assert m["held_out_episodes"] == 2   # one from each folder
    a = load_file(str(data / "vq" / "ckpt" / "model.safetensors"))
    b = load_file(str(out / "ckpt" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)   # 0 steps from --init: the same tokenizer
    r = subprocess.run([sys.executable, "-m", "gr2_policy.train", *common[:4], "--vqgan-preset", "small",
                        *common[6:], "--out", str(tmp_path / "vq3")], env=ENV, capture_output=True, text=True)
    assert r.returncode != 0 and "not the small preset" in r.stderr


def test_pretrain_on_captioned_videos(data, tmp_path):
    vids = tmp_path / "videos"
    vids.mkdir()
    rng = np.random.default_rng(1)
    for i in range(2):
        write_video(vids / f"clip{i}.mp4", _frames(rng, 10, 32, (30, 200, 30)))
        (vids / f"clip{i}.txt").write_text("move the green square")
    r = run(["pretrain", "--videos", str(vids), "--model", "tiny", "--vqgan", str(data / "vq" / "ckpt"),
             "--out", str(tmp_path / "pre"), "--steps", "2", "--batch", "2", "--video-stride", "1", "--threads", "1"])
    assert (tmp_path / "pre" / "ckpt" / "model.safetensors").is_file()
    assert '"step": 2' in r.stdout


def test_video_clip_reader_pairs_the_views_of_a_clip(tmp_path):
    from gr2_policy.data import VideoClipReader
    rng = np.random.default_rng(2)
    write_video(tmp_path / "a.head_camera.mp4", _frames(rng, 6, 32, (200, 30, 30)))
    write_video(tmp_path / "a.wrist_camera.mp4", _frames(rng, 5, 32, (30, 30, 200)))
    (tmp_path / "a.txt").write_text("pick up the red cube\n")
    write_video(tmp_path / "b.mp4", _frames(rng, 4, 32, (30, 200, 30)))
    write_video(tmp_path / "c.side.mp4", _frames(rng, 4, 32, (30, 200, 30)))   # not a model view
    (tmp_path / "captions.json").write_text('{"b": "open the drawer", "c.side.mp4": "press the button"}')
    reader = VideoClipReader(tmp_path, 16, stride=1, views=("head_camera", "wrist_camera"))
    assert len(reader) == 3
    a, b, c = (reader[i] for i in range(3))
    assert a.instruction == "pick up the red cube" and set(a.frames) == {"head_camera", "wrist_camera"}
    assert a.length == 5 and a.frames["head_camera"].shape == (5, 16, 16, 3)      # cut to the shortest
    assert a.frames["head_camera"][..., 0].mean() > a.frames["wrist_camera"][..., 0].mean()
    assert b.instruction == "open the drawer" and set(b.frames) == {"video"} and b.length == 4
    assert c.instruction == "press the button"
    (tmp_path / "captions.json").unlink()
    with pytest.raises(KeyError, match="no caption for clip b"):
        VideoClipReader(tmp_path, 16, stride=1).caption("b")


def test_video_clip_reader_reads_a_long_clip_whole_unless_capped(tmp_path):
    from gr2_policy.data import VideoClipReader
    write_video(tmp_path / "long.mp4", _frames(np.random.default_rng(3), 70, 16, (200, 30, 30)))
    (tmp_path / "long.txt").write_text("open the drawer")
    assert VideoClipReader(tmp_path, 16, stride=1)[0].length == 70
    assert VideoClipReader(tmp_path, 16, stride=2)[0].length == 35
    assert VideoClipReader(tmp_path, 16, stride=1, max_frames=10)[0].length == 10


def test_finetune_resume_continues_from_the_checkpoint(data, tmp_path):
    common = ["finetune", "--episodes", str(data / "episodes"), "--model", "tiny", "--vqgan", str(data / "vq" / "ckpt"),
              "--out", str(tmp_path / "ft"), "--batch", "2", "--threads", "1", "--bf16"]
    run(common + ["--steps", "2"])
    r = run(common + ["--steps", "4", "--resume"])
    assert '"step": 4' in r.stdout
    assert torch.load(tmp_path / "ft" / "train_state.pt", weights_only=False)["step"] == 4


def test_finetune_deepens_an_init_policy_and_resumes_at_its_depth(data, tmp_path):
    """--grow-layers with --init: the checkpoint has the new depth, a resumed run (same command)
    keeps it; without --init or to fewer layers it is refused."""
    from gr2_policy.checkpoint import load_policy
    base = ["finetune", "--episodes", str(data / "episodes"), "--batch", "2", "--threads", "1"]
    run(base + ["--model", "tiny", "--vqgan", str(data / "vq" / "ckpt"), "--out", str(tmp_path / "ft"), "--steps", "1"])
    layers = load_policy(tmp_path / "ft" / "ckpt")[0].config.n_layer
    deeper = base + ["--init", str(tmp_path / "ft" / "ckpt"), "--grow-layers", str(layers + 2),
                     "--out", str(tmp_path / "deep")]
    assert "deepened by 2 block(s)" in run(deeper + ["--steps", "1"]).stdout
    r = run(deeper + ["--steps", "2", "--resume"])
    assert "deepened" not in r.stdout and '"step": 2' in r.stdout
    assert load_policy(tmp_path / "deep" / "ckpt")[0].config.n_layer == layers + 2
    for bad, why in ((["--model", "tiny", "--vqgan", str(data / "vq" / "ckpt"), "--grow-layers", "4"], "give --init"),
                     (["--init", str(tmp_path / "deep" / "ckpt"), "--grow-layers", str(layers)], "cannot grow")):
        r = subprocess.run([sys.executable, "-m", "gr2_policy.train", *base, *bad, "--out", str(tmp_path / "no")],
                           env=ENV, capture_output=True, text=True)
        assert r.returncode != 0 and why in r.stderr, r.stderr[-2000:]


def test_finetune_moves_a_policy_onto_a_finer_token_grid_in_groups(data, tmp_path):
    """--init a 4x4-token policy with an 8x8-token tokenizer and --token-group 2: the vocabulary's
    parts are re-initialised and the checkpoint keeps 2x2 groups, also when resumed (the runtime on
    a grouped policy: test_checkpoint_and_policy.py)."""
    from gr2_policy.checkpoint import load_policy
    run(["train-vqgan", "--episodes", str(data / "episodes"), "--vqgan-preset", "tiny_f4",
         "--out", str(tmp_path / "vq4"), "--steps", "2", "--batch", "4", "--disc-start", "1", "--threads", "1"])
    base = ["finetune", "--episodes", str(data / "episodes"), "--batch", "2", "--threads", "1"]
    run(base + ["--model", "tiny", "--vqgan", str(data / "vq" / "ckpt"), "--out", str(tmp_path / "ft"), "--steps", "1"])
    moved = base + ["--init", str(tmp_path / "ft" / "ckpt"), "--vqgan", str(tmp_path / "vq4" / "ckpt"),
                    "--token-group", "2", "--out", str(tmp_path / "ft4")]
    r = run(moved + ["--steps", "1", "--embed-codebook"])
    assert "tok_emb, img_heads" in r.stdout
    r = run(moved + ["--steps", "2", "--resume"])
    assert "re-initialised" not in r.stdout and '"step": 2' in r.stdout
    for bad, why in ((["--token-group", "0", "--init", str(tmp_path / "ft" / "ckpt")], "not an integer >= 1"),
                     (["--token-group", "2", "--init", str(tmp_path / "ft" / "ckpt")], "only with a tokenizer")):
        r = subprocess.run([sys.executable, "-m", "gr2_policy.train", *base, *bad, "--out", str(tmp_path / "no")],
                           env=ENV, capture_output=True, text=True)
        assert r.returncode != 0 and why in r.stderr, r.stderr[-2000:]
    model, _ = load_policy(tmp_path / "ft4" / "ckpt")
    c = model.config
    assert (c.token_group, c.vqgan.grid, c.n_pos, c.embed_codebook) == (2, 8, 16, True)


def test_torchrun_two_process_ddp_keeps_replicas_identical(data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "gr2_policy.train", "finetune", "--episodes", str(data / "episodes"), "--model", "tiny",
           "--vqgan", str(data / "vq" / "ckpt"), "--out", str(out), "--steps", "3", "--batch", "2",
           "--device", "cpu", "--threads", "1", "--save-rank-weights", "--lr", "1e-3", "--warmup", "1"]
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    w0, w1 = load_file(str(out / "rank0.safetensors")), load_file(str(out / "rank1.safetensors"))
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # steps were really taken: weights moved away from the saved initial VQGAN-only model
    from gr2_policy.config import get_config
    from gr2_policy.model import GR2
    torch.manual_seed(0)
    init = GR2(get_config("tiny")).state_dict()
    assert any(not torch.equal(init[k], w0[k]) for k in w0 if not k.startswith("vqgan."))
    assert '"step": 3' in r.stdout


def test_sim_dataset_format_reader_feeds_the_model(tmp_path):
    """Episodes written by the sim engineer's writer (SIM.md format) reach GR2.loss."""
    from gr2_contract.episode import write_episode
    from gr2_policy.config import get_config
    from gr2_policy.data import SimDatasetReader, WindowSampler, collate, open_episodes
    from gr2_policy.model import GR2
    from gr2_policy.text_encoder import load_text_encoder

    rng = np.random.default_rng(0)
    T = 15
    for seed, ok in ((0, True), (1, False)):
        pose = np.tile(np.array([0.45, 0.0, 0.3, 1.0, 0.0, 0.0, 0.0], np.float32), (T, 1))
        pose[:, 0] += 0.01 * np.arange(T)
        action = pose.copy()
        action[:, 0] += 0.01
        streams = {"head_rgb": _frames(rng, T, 48, (200, 30, 30)), "wrist_rgb": _frames(rng, T, 48, (30, 30, 200)),
                   "joint_pos": np.zeros((T, 7), np.float32), "gripper": np.linspace(0, 1, T, dtype=np.float32),
                   "ee_pose": pose, "action_ee_pose": action, "action_gripper": (np.arange(T) > 7).astype(np.float32)}
        meta = {"instruction": "pick up the red cube", "task": "pick_cube", "skill": "pick", "setting": "simple",
                "seed": seed, "success": ok, "fps": 10.0, "frames": T}
        write_episode(tmp_path, meta, streams)
    cfg = get_config("tiny")
    reader = open_episodes(tmp_path, cfg.views, cfg.vqgan.resolution)
    assert isinstance(reader, SimDatasetReader) and len(reader) == 1      # failed episode skipped
    ep = reader[0]
    assert ep.frames["head_camera"].shape == (T, 32, 32, 3) and ep.dt == pytest.approx(0.1)
    sampler = WindowSampler(reader, cfg, seed=0)
    w = sampler.window(ep, end=5)
    # first target = the command issued after the current frame: +1 cm in x -> 0.01 / pos_scale
    assert w["actions"][-1, 0, 0].item() == pytest.approx(0.01 / cfg.pos_scale, abs=1e-5)
    assert w["actions"][-1, 3, 9].item() == 1.0                           # gripper command after frame 8
    torch.manual_seed(0)
    model = GR2(cfg)
    batch = collate(sampler.sample(2), cfg, model.vqgan, load_text_encoder(cfg.text))
    losses = model.loss(batch)
    assert torch.isfinite(losses["loss"]) and losses["action_l1"] > 0


def test_a_tokenizer_reads_robot_episodes_and_clips_together(tmp_path):
    from argparse import Namespace

    from gr2_policy.train import _episode_readers
    rng = np.random.default_rng(4)
    (tmp_path / "eps").mkdir()
    (tmp_path / "clips").mkdir()
    T = 4
    write_npz_episode(tmp_path / "eps" / "0.npz", Episode(
        instruction="pick up the red cube", frames={"head_camera": _frames(rng, T, 16, (200, 30, 30))},
        ee_position=np.zeros((T, 3), np.float32), ee_quaternion=np.tile([0, 0, 0, 1.0], (T, 1)).astype(np.float32),
        gripper_closure=np.zeros(T, np.float32), gripper_command=np.zeros(T, np.float32)))
    write_video(tmp_path / "clips" / "c.mp4", _frames(rng, 6, 16, (30, 30, 200)))
    (tmp_path / "clips" / "c.txt").write_text("open the drawer")
    args = Namespace(episodes=[str(tmp_path / "eps")], videos=str(tmp_path / "clips"), video_stride=1)
    readers = _episode_readers(args, ("head_camera",), 16)
    assert [len(r) for r in readers] == [1, 1] and readers[1][0].length == 6
    with pytest.raises(SystemExit, match="and/or --videos"):
        _episode_readers(Namespace(episodes=None, videos=None), ("head_camera",), 16)
