"""Token cache: the cached ids are exactly what per-step tokenisation gives, shift variants are
real shifts, a cache made with another tokenizer is refused, and fine-tuning runs from it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gr2_contract.episode import write_episode
from gr2_policy.checkpoint import save_vqgan
from gr2_policy.config import VQGAN_PRESETS, get_config
from gr2_policy.data import SimDatasetReader, WindowSampler, collate
from gr2_policy.text_encoder import load_text_encoder
from gr2_policy.token_cache import TokenCacheReader, build_cache, shift_frames, vqgan_fingerprint
from gr2_policy.vqgan import VQGAN

ENV = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")


def write_sim_dataset(folder: Path, n: int = 3, T: int = 9, size: int = 48, seed: int = 0) -> None:
    """A SIM.md dataset of synthetic episodes (frames larger than the model's 32 px, so the data
    path's resampling is exercised); one failed expert episode and one relabelled rollout."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        t = np.arange(T, dtype=np.float32)
        frames = rng.integers(0, 255, (T, size, size, 3), dtype=np.uint8)
        ee = np.tile([0.45, 0.0, 0.3, 1.0, 0.0, 0.0, 0.0], (T, 1)).astype(np.float32)
        ee[:, 0] += 0.01 * t
        act = ee.copy()
        act[:, 2] -= 0.02
        streams = {"head_rgb": frames, "wrist_rgb": frames[:, ::-1].copy(), "joint_pos": np.zeros((T, 7), np.float32),
                   "gripper": (t > T / 2).astype(np.float32) * 0.6, "ee_pose": ee, "action_ee_pose": act,
                   "action_gripper": (t > T / 2 - 1).astype(np.float32)}
        meta = {"instruction": ["pick up the red cube", "pick up the blue cube"][i % 2], "task": "pick_cube",
                "skill": "pick", "setting": "simple", "seed": i, "success": i != 1, "fps": 10.0, "frames": T}
        if i == 2:
            meta |= {"success": False, "relabelled": True}
        write_episode(folder, meta, streams)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    write_sim_dataset(root / "data")
    torch.manual_seed(0)
    save_vqgan(root / "vq", VQGAN(VQGAN_PRESETS["tiny"]).eval())
    meta = build_cache([root / "data"], root / "vq", root / "tokens", shifts=2, shift_px=2, batch=8)
    return root, meta


def test_cache_keeps_successful_and_relabelled_episodes_only(setup):
    root, meta = setup
    seeds = [e["seed"] for e in meta["episodes"]]
    assert seeds == [0, 2]                      # seed 1: failed expert episode, left out
    assert meta["variants"] == 3 and meta["vqgan"]["fingerprint"] == vqgan_fingerprint(root / "vq")


def test_cached_tokens_equal_per_step_tokenisation(setup):
    """Variant 0 of the cache and the frame path (prepare_frame + VQGAN in collate) give the same
    Batch: same ids, states, actions and text embedding."""
    root, _ = setup
    cfg = get_config("tiny", vqgan="tiny")
    from gr2_policy.checkpoint import load_vqgan
    vq, _ = load_vqgan(root / "vq")
    text = load_text_encoder(cfg.text)
    frames = SimDatasetReader(root / "data", cfg.views, cfg.vqgan.resolution)
    cache = TokenCacheReader(root / "tokens")
    assert len(frames) == len(cache) == 2
    for i in range(2):
        ef, ec = frames[i], cache[i]
        ec.tokens = {v: t[:, :1] for v, t in ec.tokens.items()}      # variant 0 only
        for end in (0, 4, ef.length - 1):
            sf, sc = WindowSampler(frames, cfg, 0), WindowSampler(cache, cfg, 0)
            bf = collate([sf.window(ef, end)], cfg, vq, text)
            bc = collate([sc.window(ec, end)], cfg, vq, text)
            assert torch.equal(bf.tokens, bc.tokens)
            for k in ("state_pos", "state_quat", "gripper_closure", "actions", "text"):
                assert torch.allclose(getattr(bf, k), getattr(bc, k), atol=1e-6), k


def test_shift_variants_are_edge_padded_shifts(setup):
    f = np.arange(2 * 6 * 6 * 3, dtype=np.uint8).reshape(2, 6, 6, 3)
    s = shift_frames(f, 2, -1)
    assert np.array_equal(s[:, 0:5, 2:], f[:, 1:6, 0:4])         # content moved right 2, up 1
    assert np.array_equal(s[:, :, 0], s[:, :, 1])                 # edge repeated
    assert shift_frames(f, 0, 0) is f
    root, _ = setup
    tok = np.load(root / "tokens" / "tokens.npy")
    assert (tok[:, 1] != tok[:, 0]).any()                         # variants are not copies


def test_cache_of_another_tokenizer_is_refused(setup):
    root, _ = setup
    cache = TokenCacheReader(root / "tokens")
    cfg = get_config("tiny", vqgan="tiny")
    text = load_text_encoder(cfg.text)
    cache.check_compatible(cfg, vqgan_fingerprint(root / "vq"), text.identity)
    with pytest.raises(ValueError, match="VQGAN"):
        cache.check_compatible(cfg, "0" * 16, text.identity)


def test_finetune_from_cache_with_validation_and_resume(setup, tmp_path):
    root, _ = setup
    out = tmp_path / "ft"
    cmd = [sys.executable, "-m", "gr2_policy.train", "finetune", "--tokens", str(root / "tokens"), "--vqgan",
           str(root / "vq"), "--model", "tiny", "--out", str(out), "--batch", "4", "--threads", "1",
           "--val-fraction", "0.5", "--val-every", "2", "--val-batches", "1", "--warmup", "1"]
    r = subprocess.run(cmd + ["--steps", "3"], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["step"] == 3 and np.isfinite(res["val_action_l1"])
    meta = json.loads((out / "ckpt" / "config.json").read_text())
    assert meta["extra"]["vqgan_fingerprint"] == vqgan_fingerprint(root / "vq")
    r = subprocess.run(cmd + ["--steps", "5", "--resume"], env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1])["step"] == 5
    from gr2_policy.train_report import main as report
    assert report([str(out), "--out", str(tmp_path / "report")]) == 0
    summary = json.loads((tmp_path / "report" / "training.json").read_text())["runs"][0]
    assert [s for s, _ in summary["scalars"]["finetune/action_l1"]] == [1, 2, 3, 4, 5]
    assert "finetune_val/action_l1" in summary["final"] and (tmp_path / "report" / "training.png").stat().st_size > 0
    from gr2_policy.train_report import step_offsets
    assert step_offsets([summary, summary]) == [0, 5] and step_offsets([summary, summary], chained=False) == [0, 0]
    assert report([str(out), str(out), "--side-by-side", "--out", str(tmp_path / "side")]) == 0
    # a later stage appended to a shipped summary whose earlier runs' event files are gone
    shipped = tmp_path / "report" / "training.json"
    assert report([str(out), "--before", str(shipped), "--out", str(tmp_path / "report")]) == 0
    runs = json.loads((tmp_path / "report" / "training.json").read_text())["runs"]
    assert len(runs) == 2 and runs[0] == summary


def test_config_file_gives_defaults_and_rejects_unknown_keys(setup, tmp_path):
    root, _ = setup
    good = tmp_path / "ft.yaml"
    good.write_text(f"tokens: {root / 'tokens'}\nvqgan: {root / 'vq'}\nmodel: tiny\nout: {tmp_path / 'o'}\n"
                    "steps: 1\nbatch: 2\nval_fraction: 0.5\nval_batches: 1\n")
    r = subprocess.run([sys.executable, "-m", "gr2_policy.train", "finetune", "--config", str(good), "--threads", "1"],
                       env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    bad = tmp_path / "bad.yaml"
    bad.write_text("stpes: 3\n")
    r = subprocess.run([sys.executable, "-m", "gr2_policy.train", "finetune", "--config", str(bad)],
                       env=ENV, capture_output=True, text=True)
    assert r.returncode == 2 and "unknown option(s) ['stpes']" in r.stderr


def test_chunk_labels_are_cached_and_become_the_window_targets(tmp_path):
    """Episodes with the expert's k-step plans (CHUNK_STREAMS, DAgger rounds) keep them through the
    cache, and a window's action targets are those plans, not action_ee_pose[t:t+k]; a cache of
    episodes with and without them is refused."""
    from gr2_policy.action_head import decode_actions
    write_sim_dataset(tmp_path / "plain", n=1)
    cfg = get_config("tiny")
    T, k, rng = 9, cfg.chunk_size, np.random.default_rng(1)
    ee = np.tile([0.45, 0.0, 0.3, 0.0, 0.0, 0.0, 1.0], (T, 1)).astype(np.float32)
    plan = np.repeat(ee[:, None], k, axis=1)
    plan[..., 2] += 0.03 * np.arange(k)[None]                 # every state's plan: rise 3 cm per step
    frames = rng.integers(0, 255, (T, 48, 48, 3), dtype=np.uint8)
    streams = {"head_rgb": frames, "wrist_rgb": frames, "joint_pos": np.zeros((T, 7), np.float32),
               "gripper": np.full(T, 0.38, np.float32), "ee_pose": ee, "action_ee_pose": plan[:, 0].copy(),
               "action_gripper": np.ones(T, np.float32), "action_chunk_ee_pose": plan,
               "action_chunk_gripper": np.ones((T, k), np.float32)}
    meta = {"instruction": "pick up the red cube", "task": "pick_cube", "skill": "pick", "setting": "simple",
            "seed": 0, "success": False, "relabelled": True, "fps": 10.0, "frames": T}
    write_episode(tmp_path / "chunked", meta, streams)
    torch.manual_seed(0)
    save_vqgan(tmp_path / "vq", VQGAN(VQGAN_PRESETS["tiny"]).eval())
    build_cache([tmp_path / "chunked"], tmp_path / "vq", tmp_path / "tokens", shifts=0, batch=8)
    ep = TokenCacheReader(tmp_path / "tokens")[0]
    assert ep.action_chunk_position.shape == (T, k, 3)
    window = WindowSampler(TokenCacheReader(tmp_path / "tokens"), cfg, 0).window(ep, 4)
    pos, _, grip = decode_actions(window["state_pos"], window["state_quat"], window["actions"], cfg.pos_scale)
    np.testing.assert_allclose(pos[-1, :, 2].numpy(), 0.3 + 0.03 * np.arange(k), atol=1e-5)   # the plan
    with pytest.raises(ValueError, match="chunk labels"):
        build_cache([tmp_path / "chunked", tmp_path / "plain"], tmp_path / "vq", tmp_path / "mixed", batch=8)


def test_video_clips_cache_without_actions_and_pretrain_from_it(setup, tmp_path):
    """Two-view captioned clips: cached ids equal the reader's frames tokenised, no robot streams,
    `pretrain --tokens` trains on them; a robot cache is refused by pretrain, a one-view clip by the cache."""
    from gr2_policy.data import VideoClipReader, write_video
    from gr2_policy.policy import frames_to_tensor
    root, _ = setup
    clips = tmp_path / "clips"
    clips.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):
        for view in ("head_camera", "wrist_camera"):
            write_video(clips / f"c{i}.{view}.mp4", rng.integers(0, 255, (7, 48, 48, 3), dtype=np.uint8))
        (clips / f"c{i}.txt").write_text(["open the drawer", "press the red button", "open the drawer"][i])
    meta = build_cache(None, root / "vq", tmp_path / "vt", video_dirs=[clips], batch=8)
    assert meta["actions"] is False and meta["frames"] == 21 and meta["instructions"] == ["open the drawer",
                                                                                          "press the red button"]
    assert not (tmp_path / "vt" / "ee_pose.npy").exists()
    reader = TokenCacheReader(tmp_path / "vt")
    ep = reader[1]
    assert not ep.has_actions and ep.instruction == "press the red button" and ep.length == 7
    from gr2_policy.checkpoint import load_vqgan
    vq, _ = load_vqgan(root / "vq")
    frames = VideoClipReader(clips, vq.config.resolution, stride=1, views=("head_camera", "wrist_camera"))[1].frames
    with torch.no_grad():
        ids = vq.eval().encode(frames_to_tensor(frames["wrist_camera"])).flatten(1).numpy()
    assert np.array_equal(ep.tokens["wrist_camera"][:, 0], ids)

    cmd = [sys.executable, "-m", "gr2_policy.train", "pretrain", "--vqgan", str(root / "vq"), "--model", "tiny",
           "--batch", "2", "--threads", "1", "--warmup", "1", "--steps", "2", "--val-fraction", "0"]
    r = subprocess.run(cmd + ["--tokens", str(tmp_path / "vt"), "--out", str(tmp_path / "pre")], env=ENV,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["step"] == 2 and np.isfinite(res["video"])
    from gr2_policy.train_report import main as report
    from gr2_policy.train_report import run_stage
    assert report([str(tmp_path / "pre"), "--out", str(tmp_path / "report")]) == 0
    summary = json.loads((tmp_path / "report" / "training.json").read_text())["runs"][0]
    assert run_stage(summary["scalars"]) == "pretrain" and "pretrain/video" in summary["final"]
    r = subprocess.run(cmd + ["--tokens", str(root / "tokens"), "--out", str(tmp_path / "pre2")], env=ENV,
                       capture_output=True, text=True)
    assert r.returncode != 0 and "pre-training is action-free" in r.stderr
    (clips / "c0.wrist_camera.mp4").unlink()
    with pytest.raises(ValueError, match="needs every view"):
        build_cache(None, root / "vq", tmp_path / "vt2", video_dirs=[clips])


def test_vqgan_fingerprint_reads_package_uris():
    """The shipped tokenizer named as results name it (package://) has the fingerprint of its folder."""
    from gr2_policy.checkpoint import resolve_checkpoint
    uri = "package://gr2_policy/checkpoints/pick_cube_vqgan"
    assert vqgan_fingerprint(uri) == vqgan_fingerprint(resolve_checkpoint(uri))
    with pytest.raises(FileNotFoundError):
        vqgan_fingerprint("package://gr2_policy/checkpoints/no_such_tokenizer")


def test_cropped_cache_equals_cropped_frame_path_and_finetune_takes_its_crop(setup, tmp_path):
    """A cache made with a tokenizer trained on a view crop holds the tokens of the frame path read
    with that crop; a policy fine-tuned on it records the crop (GR2Config.view_crops), and a cache
    of other crops is refused by that policy."""
    root, _ = setup
    crops = {"head_camera": (0.125, 0.25, 0.875, 0.75)}
    from gr2_policy.checkpoint import load_policy, load_vqgan
    vq, _ = load_vqgan(root / "vq")
    save_vqgan(tmp_path / "vq_cropped", vq, {"crops": crops})       # as train-vqgan --crop saves it
    meta = build_cache([root / "data"], tmp_path / "vq_cropped", tmp_path / "cropped", batch=8)
    assert meta["prepare_frame"]["crops"] == {"head_camera": [0.125, 0.25, 0.875, 0.75]}
    cache = TokenCacheReader(tmp_path / "cropped")
    assert cache.crops == crops
    cfg = get_config("tiny", vqgan="tiny", view_crops=crops)
    frames = SimDatasetReader(root / "data", cfg.views, cfg.vqgan.resolution, crops=crops)
    uncropped = TokenCacheReader(root / "tokens")
    for i in range(2):
        with torch.no_grad():
            ids = {v: vq.encode(torch.as_tensor(frames[i].frames[v]).permute(0, 3, 1, 2).float() / 127.5 - 1)
                   .flatten(1).numpy() for v in cfg.views}
        for v in cfg.views:
            np.testing.assert_array_equal(cache[i].tokens[v][:, 0], ids[v])
        assert (cache[i].tokens["head_camera"][:, 0] != uncropped[i].tokens["head_camera"][:, 0]).any()
        np.testing.assert_array_equal(cache[i].tokens["wrist_camera"][:, 0], uncropped[i].tokens["wrist_camera"][:, 0])
    text = load_text_encoder(cfg.text)
    cache.check_compatible(cfg, vqgan_fingerprint(tmp_path / "vq_cropped"), text.identity)
    with pytest.raises(ValueError, match="crops"):
        uncropped.check_compatible(cfg, vqgan_fingerprint(root / "vq"), text.identity)
    out = tmp_path / "ft"
    cmd = [sys.executable, "-m", "gr2_policy.train", "finetune", "--tokens", str(tmp_path / "cropped"), "--vqgan",
           str(tmp_path / "vq_cropped"), "--model", "tiny", "--out", str(out), "--batch", "4", "--threads", "1",
           "--val-fraction", "0", "--warmup", "1", "--steps", "2"]
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    model, _ = load_policy(out / "ckpt")
    assert model.config.view_crops == crops
    r = subprocess.run(cmd[:5] + [str(root / "tokens"), str(tmp_path / "cropped")] + cmd[6:], env=ENV,
                       capture_output=True, text=True)
    assert r.returncode != 0 and "different input crops" in r.stderr
