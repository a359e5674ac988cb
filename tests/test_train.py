"""Training: each stage's step learns, resume continues, the bank lines up with its rows.

Tiny synthetic data on the compact128 preset (the smallest canvas), batch sizes as in the real
run so the compiled Jittor kernels are shared with it.
"""
import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # see dsf/train/__main__.py (before Jittor loads)

import numpy as np
import pytest

import dsf
from dsf import PARTS, preset

jt = pytest.importorskip("jittor")

CFG = preset("compact128")


def _sketches(n, seed=0):
    rng = np.random.default_rng(seed)
    sk = np.full((n, 128, 128), 255, np.uint8)
    for s in sk:
        for _ in range(30):
            y, x = rng.integers(4, 120, 2)
            if rng.random() < 0.5:
                s[y:y + 2, x:x + rng.integers(3, 20)] = 0
            else:
                s[y:y + rng.integers(3, 20), x:x + 2] = 0
    return sk


def _pack(n, seed=0):
    rng = np.random.default_rng(seed + 100)
    sk = _sketches(n, seed)
    base = rng.integers(40, 220, (n, 1, 1, 3))
    photos = np.clip(base + (sk[..., None].astype(int) - 255) // 3, 0, 255).astype(np.uint8)
    sex = np.array(["male", "female", ""] * n)[:n]
    return {"photos": photos, "sketches": sk, "ids": np.array([f"face{i:03d}" for i in range(n)]),
            "sex": sex, "source": np.array(["synthetic"] * n)}


def _frozen_encoders():
    """Fresh stage-1 encoders in inference mode, as stage 2 holds them frozen."""
    from dsf.networks import set_batchnorm_mode
    from dsf.train.stage1 import build_stage1

    encoders = build_stage1(CFG)
    for m in encoders.values():
        set_batchnorm_mode(m, "eval")
    return encoders


def _assert_reencoded(out, latents, sketches, rows, encoders):
    """`out` holds the frozen `encoders`' latents of `sketches` in `rows` and `latents` elsewhere."""
    from dsf.train.bank import encode_all

    kept = np.setdiff1d(np.arange(len(sketches)), rows)
    fresh = encode_all(encoders, sketches[rows], progress=False)
    for p in PARTS:
        np.testing.assert_array_equal(out[p][kept], latents[p][kept])
        np.testing.assert_allclose(out[p][rows], fresh[p], rtol=1e-5, atol=1e-5)
        assert not np.allclose(out[p][rows], latents[p][rows])


def _snapshot(mods):
    return {k: {n: v.numpy().copy() for n, v in m.state_dict().items()} for k, m in mods.items()}


def _changed(before, mods):
    return all(any(not np.array_equal(before[k][n], v.numpy()) for n, v in m.state_dict().items()
                   if not n.endswith(("running_mean", "running_var")))
               for k, m in mods.items())


def test_stage1_step_changes_weights_and_lowers_loss():
    from dsf.train.stage1 import BETAS, LR, build_stage1, crops_by_part, stage1_loss

    jt.set_global_seed(0)
    mods = build_stage1(CFG)
    opt = jt.optim.Adam([p for m in mods.values() for p in m.parameters()], LR, betas=BETAS)
    crops = crops_by_part(_sketches(16))
    before = _snapshot(mods)
    losses = []
    for _ in range(5):
        loss, parts = stage1_loss(mods, crops)
        opt.step(loss)
        losses.append(loss.item())
        assert set(parts) == set(PARTS)
    assert _changed(before, mods)
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0]


def _stage2_batch(n):
    """Fresh stage-2 networks, their two Adams, a batch of n faces and random latents for them."""
    from dsf.train.recipe import LR
    from dsf.train.stage2 import BETAS, build_stage2

    jt.set_global_seed(0)
    gmods, disc = build_stage2(CFG)
    opt_g = jt.optim.Adam([p for m in gmods.values() for p in m.parameters()], LR, betas=BETAS)
    opt_d = jt.optim.Adam(disc.parameters(), LR, betas=BETAS)
    rng = np.random.default_rng(1)
    lat = {p: rng.normal(size=(n, CFG.latent)).astype(np.float32) for p in PARTS}
    return gmods, disc, opt_g, opt_d, _pack(n), lat


def test_stage2_step_changes_weights_and_lowers_loss():
    from dsf.train.stage2 import train_step

    gmods, disc, opt_g, opt_d, pack, lat = _stage2_batch(8)
    before_g, before_d = _snapshot(gmods), _snapshot({"d": disc})
    hist = [train_step(gmods, disc, opt_g, opt_d, lat, pack["sketches"], pack["photos"], CFG.canvas) for _ in range(4)]
    assert _changed(before_g, gmods) and _changed(before_d, {"d": disc})
    assert all(np.isfinite(v) for h in hist for v in h.values())
    assert hist[-1]["loss_g"] < hist[0]["loss_g"]
    assert hist[-1]["g_l1"] < hist[0]["g_l1"]


def test_resume_bank_and_export(tmp_path):
    from dsf.train.bank import build_bank, encode_all, load_bank_arrays, load_banks
    from dsf.train.checkpoint import read_meta
    from dsf.train.stage1 import load_stage1, train_stage1
    from dsf.train.recipe import Recipe
    from dsf.train.stage2 import train_stage2

    pack, val = _pack(32, 0), _pack(8, 5)
    out = tmp_path / "run"
    kw = dict(pack=pack, val=val, progress=False, seed=3)

    m = train_stage1(None, CFG, out, epochs=2, batch=16, max_steps=2, **kw)
    assert m["step"] == 2 and m["epoch"] == 1 and not m["done"]
    saved = read_meta(out / "stage1" / "checkpoint.npz")
    assert saved["step"] == 2
    m = train_stage1(None, CFG, out, epochs=2, batch=16, max_steps=5, **kw)  # resumes, finishes epoch 2
    assert m["step"] == 4 and m["epoch"] == 2 and m["done"]
    steps = [json.loads(l)["step"] for l in (out / "stage1" / "losses.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert (out / "stage1" / "samples").is_dir()

    build_bank(None, CFG, out, pack=pack, progress=False)
    latents, labels = load_bank_arrays(out / "bank.npz")
    assert all(latents[p].shape == (32, CFG.latent) for p in PARTS)
    assert list(labels["id"]) == list(pack["ids"])
    assert list(labels["sex"]) == list(pack["sex"])
    assert list(labels["source"]) == list(pack["source"])
    # Row i is face i: re-encoding faces 5 and 17 alone gives those rows.
    enc = load_stage1(out, CFG)
    again = encode_all(enc, pack["sketches"][[5, 17]], progress=False)
    for p in PARTS:
        np.testing.assert_allclose(again[p], latents[p][[5, 17]], rtol=1e-4, atol=1e-4)
    banks = load_banks(out / "bank.npz")
    assert list(banks["nose"].labels["id"]) == list(pack["ids"])

    m = train_stage2(None, CFG, out, epochs=1, batch=8, max_steps=2, **kw)
    assert m["step"] == 2 and not m["done"]
    m = train_stage2(None, CFG, out, epochs=1, batch=8, max_steps=1, **kw)
    assert m["step"] == 3 and m["pos"] == 3
    assert (out / "stage2" / "curves.png").exists()
    import time

    m = train_stage2(None, CFG, out, epochs=1, batch=8, until=time.time() - 1, **kw)  # deadline passed: stop
    assert m["step"] == 3 and m["done"]
    assert train_stage2(None, CFG, out, epochs=1, batch=8, max_steps=1, **kw)["step"] == 3  # done: untouched
    m = train_stage2(None, CFG, out, epochs=1, batch=8, max_steps=1, extend=True, **kw)  # trains on
    assert m["step"] == 4
    # A new phase: heavier L1, learning rates (D's its own) decaying to 0 over 3 steps, instance
    # noise, half the latents refined, noisy latents, half the faces from augmented sketches,
    # half mirrored, half pencil-drawn; then the run ends.
    m = train_stage2(None, CFG, out, epochs=9, batch=8, extend=True, **kw,
                     recipe=Recipe(lambda_l1=50, lr=1e-4, lr_decay_steps=3, lr_d=3e-5, d_noise=0.2, lambda_ssim=5.0,
                                   refine_share=0.5, latent_noise=0.1, augment_share=0.5, mirror_share=0.5,
                                   pencil_share=0.5))
    assert m["step"] == 7 and m["done"]
    assert m["loss_phases"][-1] == {"from_step": 4, "lambda_fm": 10.0, "lambda_l1": 50.0, "lambda_local": 0.0,
                                    "lr": 1e-4, "lr_decay_steps": 3, "local_parts": list(PARTS),
                                    "local_weights": {}, "lambda_id": 0.0, "id_gradient": "bt601", "id_temperature": 0.1,
                                    "id_region": "full", "id_signature": "grey", "lr_d": 3e-5, "d_noise": 0.2,
                                    "lambda_ssim": 5.0, "refine_share": 0.5, "latent_noise": 0.1,
                                    "augment_share": 0.5, "mirror_share": 0.5, "pencil_share": 0.5, "ema_decay": 0.0}
    assert [ph["from_step"] for ph in m["loss_phases"]] == [0, 4]
    logged = [json.loads(l) for l in (out / "stage2" / "losses.jsonl").read_text().splitlines()]
    np.testing.assert_allclose([r["lr"] for r in logged[-3:]], [1e-4, 2e-4 / 3, 1e-4 / 3])
    np.testing.assert_allclose([r["lr_d"] for r in logged[-3:]], [3e-5, 2e-5, 1e-5])

    # Export the tiny run in the kit layout (fp16) and load it back.
    import argparse

    from dsf.params import load_model
    from dsf.train.__main__ import cmd_export
    from dsf.train.stage2 import load_stage2

    cmd_export(argparse.Namespace(out=str(out), params=str(tmp_path / "params")), CFG)
    cfg2, nets, banks2, info = load_model(tmp_path / "params")
    assert cfg2 == CFG and info["dtype"] == "float16" and "stage 2" in info["model_card"].lower()
    assert "λ_SSIM 5, lr 0.0001 (D 3e-05) decaying to 0 over 3 steps, instance noise σ 0.2, 50% of latents refined" in info["model_card"]
    assert list(banks2["eye1"].labels["id"]) == list(pack["ids"])
    g = load_stage2(out, CFG)["generator"].state_dict()
    for name, v in nets["generator"].state_dict().items():
        np.testing.assert_allclose(v.numpy(), g[name].numpy(), rtol=2e-3, atol=2e-3)

    # The exported folder carries the discriminator, so a fresh clone can fine-tune from it.
    from dsf.train.checkpoint import init_from_params
    from dsf.train.stage2 import build_stage2, load_discriminator

    gmods, disc = build_stage2(CFG)
    assert init_from_params(tmp_path / "params", {**gmods, "discriminator": disc}) == []
    trained = load_discriminator(out, CFG).state_dict()
    for name, v in disc.state_dict().items():
        np.testing.assert_allclose(v.numpy(), trained[name].numpy(), rtol=2e-3, atol=2e-3)
    other = build_stage2(CFG.replace(generator_down=3))[0]["generator"]
    assert init_from_params(tmp_path / "params", {"generator": other}) == ["generator"]  # shaped otherwise: left

    # `stage2 --init params` on a machine without the run: the bank comes from the folder's encoders.
    m = train_stage2(None, CFG, tmp_path / "finetune", epochs=1, batch=8, max_steps=1, init=tmp_path / "params", **kw)
    assert m["step"] == 1 and m["init"] == str(tmp_path / "params")
    tuned_bank, _ = load_bank_arrays(tmp_path / "finetune" / "bank.npz")
    np.testing.assert_allclose(tuned_bank["mouth"], banks2["mouth"].vectors, rtol=2e-2, atol=2e-2)
    # It resumes without --init (a later working period): the encoders still come from the folder.
    m = train_stage2(None, CFG, tmp_path / "finetune", epochs=1, batch=8, max_steps=1, **kw)
    assert m["step"] == 2 and m["init"] == str(tmp_path / "params")
    # Its export carries the folder's auto-encoders (the run has no stage 1 of its own).
    cmd_export(argparse.Namespace(out=str(tmp_path / "finetune"), params=str(tmp_path / "tuned")), CFG)
    tuned = load_model(tmp_path / "tuned")[1]
    for name, v in tuned["encoder/nose"].state_dict().items():
        np.testing.assert_array_equal(v.numpy(), nets["encoder/nose"].state_dict()[name].numpy())


def test_a_resumed_run_keeps_its_seed(tmp_path, monkeypatch):
    """Resumed without --seed, a run draws its epochs from the seed it started with (it once took
    the command line's default: mid-epoch, the new order repeated some faces and skipped others)."""
    import dsf.train.checkpoint as checkpoint
    from dsf.train.stage1 import train_stage1

    pack, out = _pack(32, 0), tmp_path / "run"
    train_stage1(None, CFG, out, epochs=2, batch=16, max_steps=1, pack=pack, val=pack, progress=False, seed=3)
    keys, epoch_rows = [], checkpoint.epoch_rows
    monkeypatch.setattr(checkpoint, "epoch_rows", lambda n, key, *a, **k: keys.append(key) or epoch_rows(n, key, *a, **k))
    m = train_stage1(None, CFG, out, epochs=2, batch=16, max_steps=1, pack=pack, val=pack, progress=False)
    assert m["step"] == 2 and m["seed"] == 3
    assert keys and {key[0] for key in keys} == {3}


def test_epoch_rows_balance_evens_out_sources_and_is_reproducible():
    from dsf.train.checkpoint import epoch_rows

    groups = np.array(["small"] * 10 + ["large"] * 90)
    plain = epoch_rows(100, (0,), 3)
    assert sorted(plain) == list(range(100))  # balance 1: a permutation, as before balancing existed
    np.testing.assert_array_equal(plain, np.random.default_rng([0, 3]).permutation(100))
    even = epoch_rows(100, (0,), 3, groups, balance=0.0)
    assert len(even) == 100 and (even < 10).sum() == 50  # each source half of the epoch
    assert set(even[even < 10]) == set(range(10))  # the small source cycles through all its rows
    np.testing.assert_array_equal(even, epoch_rows(100, (0,), 3, groups, balance=0.0))
    assert not np.array_equal(even, epoch_rows(100, (0,), 4, groups, balance=0.0))
    half = epoch_rows(100, (0,), 3, groups, balance=0.5)
    assert (half < 10).sum() == 25  # sqrt(10) : sqrt(90) = 1 : 3


def test_generator_down_keeps_the_bottleneck_and_is_validated():
    from dsf.networks import Generator

    out = Generator(CFG)(jt.zeros((1, CFG.feature_channels, 128, 128)))
    assert out.shape == (1, 3, 128, 128)
    assert CFG.generator_down == 2 and preset("published").generator_down == 4
    with pytest.raises(ValueError, match="generator_down"):
        CFG.replace(generator_down=6)


def test_outside_change_counts_only_pixels_outside_the_region():
    from dsf.components import part_regions
    from dsf.train.losses import outside_change

    inside = part_regions(128)["mouth"]
    base = np.zeros((2, 3, 128, 128), np.float32)
    local, spread = base.copy(), base + 0.5
    local[:, :, inside] = 1.0  # an edit confined to the mouth's window
    assert outside_change(jt.array(local), jt.array(base), inside).item() == 0.0
    assert outside_change(jt.array(spread), jt.array(base), inside).item() == pytest.approx(0.5)


def test_locality_loss_swaps_half_the_batch_and_trains():
    from dsf.train.recipe import Recipe
    from dsf.train.stage2 import train_step, with_swapped_half

    lat = {p: np.arange(4, dtype=np.float32)[:, None] + 10 * i for i, p in enumerate(PARTS)}
    rows = with_swapped_half(lat, "nose")
    assert list(rows["nose"][:, 0]) == [20, 21, 22, 23, 22, 23]  # faces 0, 1 with faces 2, 3's nose
    assert list(rows["mouth"][:, 0]) == [30, 31, 32, 33, 30, 31]
    gmods, disc, opt_g, opt_d, pack, lat = _stage2_batch(4)
    same = {p: np.concatenate([lat[p][:2]] * 2) for p in PARTS}  # second half = first half: a swap changes nothing
    step = train_step(gmods, disc, opt_g, opt_d, same, pack["sketches"], pack["photos"], CFG.canvas, Recipe(lambda_local=100.0))
    assert step["g_local"] < 1e-4
    hist = [train_step(gmods, disc, opt_g, opt_d, lat, pack["sketches"], pack["photos"], CFG.canvas,
                       Recipe(lambda_local=100.0), step=i) for i in range(len(PARTS))]  # each part in turn
    assert all(h["g_local"] > 0 and np.isfinite(h["loss_g"]) for h in hist)
    assert "g_local" not in train_step(gmods, disc, opt_g, opt_d, lat, pack["sketches"], pack["photos"], CFG.canvas)


def test_identity_loss_prefers_a_face_like_its_own_photo():
    from dsf.evaluate.metrics import identity_signature
    from dsf.train.losses import identity_contrast, signature

    rng = np.random.default_rng(3)
    photos = rng.integers(0, 256, (4, 64, 64, 3)).astype(np.uint8)
    faces = jt.array(photos.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0)
    np.testing.assert_allclose(signature(faces, 16).numpy(), identity_signature(photos, 16), atol=1e-5)
    gallery = jt.array(identity_signature(photos, 16))
    right = identity_contrast(faces, gallery, [0, 1, 2, 3], 0.1, 16).item()
    wrong = identity_contrast(faces, gallery, [1, 2, 3, 0], 0.1, 16).item()
    assert right < 0.01 and wrong > 5  # its own photo vs another's; log 4 ≈ 1.4 would be chance
    assert identity_contrast(faces * 0.5 + 0.2, gallery, [0, 1, 2, 3], 0.1, 16).item() == pytest.approx(right, abs=1e-4)


def test_neutral_identity_gradient_keeps_the_loss_and_moves_lightness_only():
    """`--id-gradient neutral`: the same loss value, with a gradient equal in R, G and B (BT.601's
    own is 0.299 : 0.587 : 0.114, which pushed green hardest and cast colour)."""
    from dsf.evaluate.metrics import identity_signature
    from dsf.train.__main__ import parser
    from dsf.train.losses import identity_contrast
    from dsf.train.recipe import Recipe, record_phase, resumed_recipe

    rng = np.random.default_rng(4)
    photos = rng.integers(0, 256, (4, 32, 32, 3)).astype(np.uint8)
    gallery = jt.array(identity_signature(photos[::-1].copy(), 16))  # faces match other photos: a real push
    faces = jt.array(photos.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0)
    grads = {}
    for neutral in (False, True):
        loss = identity_contrast(faces, gallery, [0, 1, 2, 3], 0.1, 16, neutral=neutral)
        grads[neutral] = (loss.item(), jt.grad(loss, faces).numpy())
    assert grads[True][0] == pytest.approx(grads[False][0], rel=1e-6)
    g = grads[True][1]
    np.testing.assert_allclose(g[:, 1], g[:, 0], atol=1e-9)
    np.testing.assert_allclose(g[:, 2], g[:, 0], atol=1e-9)
    bt601 = grads[False][1]
    np.testing.assert_allclose(bt601[:, 1], bt601[:, 0] * 0.587 / 0.299, rtol=1e-4, atol=1e-9)
    assert np.abs(g).max() > 0
    assert Recipe().id_gradient == "bt601" and Recipe(id_gradient="neutral").as_phase()["id_gradient"] == "neutral"
    with pytest.raises(ValueError, match="identity gradient must be one of bt601, neutral"):
        Recipe(id_gradient="lab")
    assert parser().parse_args(["stage2", "--data", "d", "--out", "o", "--id-gradient", "neutral"]).id_gradient == "neutral"
    meta = {"step": 0}  # recorded as a phase, and kept when the run resumes without restating it
    record_phase(meta, Recipe(lambda_id=100))
    meta["step"] = 5
    record_phase(meta, Recipe(lambda_id=100, id_gradient="neutral"))
    assert [ph["id_gradient"] for ph in meta["loss_phases"]] == ["bt601", "neutral"]
    assert resumed_recipe({}, meta).id_gradient == "neutral"


def test_identity_temperature_is_a_recorded_option_that_sharpens_the_loss():
    """`--id-temperature`: a recipe value (default 0.1, what every earlier run trained with),
    checked, recorded as a phase, kept on resume; a lower temperature weighs the photos most like
    each face harder, so the same faces pay a different loss."""
    from dsf.evaluate.metrics import identity_signature
    from dsf.train.__main__ import parser, phase_text
    from dsf.train.losses import identity_contrast
    from dsf.train.recipe import ID_TEMPERATURE, Recipe, record_phase, resumed_recipe

    assert Recipe().id_temperature == ID_TEMPERATURE == 0.1
    for bad in (0, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="identity temperature must be a number > 0"):
            Recipe(id_temperature=bad)
    args = parser().parse_args(["stage2", "--data", "d", "--out", "o", "--id-temperature", "0.05"])
    assert args.id_temperature == 0.05
    with pytest.raises(SystemExit):
        parser().parse_args(["stage2", "--data", "d", "--out", "o", "--id-temperature", "0"])
    assert "temperature" not in phase_text(Recipe(lambda_id=100).as_phase())
    assert "λ_id 100 (temperature 0.05)," in phase_text(Recipe(lambda_id=100, id_temperature=0.05).as_phase())
    assert "λ_id 100 (gradient neutral in colour, temperature 0.05)," in phase_text(
        Recipe(lambda_id=100, id_gradient="neutral", id_temperature=0.05).as_phase())
    assert "λ_id 100 (gradient neutral in colour)," in phase_text(Recipe(lambda_id=100, id_gradient="neutral").as_phase())
    old = {k: v for k, v in Recipe(lambda_id=100).as_phase().items() if k != "id_temperature"}
    meta = {"step": 0, "loss_phases": [{"from_step": 0, **old}]}  # a phase from before the option
    record_phase(meta, Recipe(lambda_id=100))
    assert len(meta["loss_phases"]) == 1  # it trained at the default: no new phase
    meta["step"] = 5
    record_phase(meta, Recipe(lambda_id=100, id_temperature=0.05))
    assert [ph["from_step"] for ph in meta["loss_phases"]] == [0, 5]
    assert resumed_recipe({}, meta).id_temperature == 0.05

    rng = np.random.default_rng(5)
    photos = rng.integers(0, 256, (4, 32, 32, 3)).astype(np.uint8)
    gallery = jt.array(identity_signature(photos[::-1].copy(), 16))
    faces = jt.array(photos.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0)
    losses = [identity_contrast(faces, gallery, [0, 1, 2, 3], t, 16).item() for t in (0.1, 0.05)]
    assert losses[1] > losses[0] > 0  # each face matches another photo: a sharper softmax punishes it more


def test_identity_region_face_compares_the_centre_only_and_is_a_recorded_option():
    """`--id-region face`: a checked recipe value (default full, what every earlier run trained
    with), recorded as a phase, shown in the phase text; its signatures see only the centre
    blocks, so a change on the border leaves them alone while `full` sees it; the gallery is cut
    the same way, and `full` keeps the evaluation's signature."""
    from dsf.evaluate.metrics import identity_signature
    from dsf.train.__main__ import parser, phase_text
    from dsf.train.losses import region_blocks, signature
    from dsf.train.recipe import Recipe, record_phase, resumed_recipe
    from dsf.train.stage2 import photo_signatures

    assert Recipe().id_region == "full" and region_blocks("face", 32) == (slice(6, 28), slice(6, 26))
    with pytest.raises(ValueError, match="identity region must be one of full, face"):
        Recipe(id_region="hair")
    assert parser().parse_args(["stage2", "--data", "d", "--out", "o", "--id-region", "face"]).id_region == "face"
    with pytest.raises(SystemExit):
        parser().parse_args(["stage2", "--data", "d", "--out", "o", "--id-region", "hair"])
    assert "λ_id 100 (face region)," in phase_text(Recipe(lambda_id=100, id_region="face").as_phase())
    assert "region" not in phase_text(Recipe(lambda_id=100).as_phase())
    meta = _phase_from_before("id_region")
    meta["step"] = 3
    record_phase(meta, Recipe(lambda_id=100, id_region="face"))
    assert resumed_recipe({}, meta).id_region == "face"

    rng = np.random.default_rng(7)
    photos = rng.integers(0, 256, (3, 64, 64, 3)).astype(np.uint8)
    edited = photos.copy()
    edited[:, :8] = 255  # the top rows: the border (hair), outside the face region
    full, face = (photo_signatures(np.concatenate([photos, edited]), region).numpy() for region in ("full", "face"))
    assert face.shape == (6, 22 * 20) and full.shape == (6, 32 * 32)
    np.testing.assert_allclose(face[:3], face[3:], atol=1e-5)
    assert np.abs(full[:3] - full[3:]).max() > 0.05
    np.testing.assert_allclose(full, identity_signature(np.concatenate([photos, edited])), atol=1e-5)
    faces = jt.array(edited.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0)
    np.testing.assert_allclose(signature(faces, 32, region="face").numpy(), face[3:], atol=1e-5)


def _check_share_option(capsys, field: str, bad: float, shown: str) -> None:
    """A share option (`field`, e.g. "mirror_share"): a bad value is refused by the recipe and, with a
    clear message, by the command line; 0.5 is parsed and shown as `shown`; old phases resume."""
    from dsf.train.__main__ import parser, phase_text
    from dsf.train.recipe import Recipe

    flag = "--" + field.replace("_", "-")
    with pytest.raises(ValueError, match=field.replace("_", " ")):
        Recipe(**{field: bad})
    with pytest.raises(SystemExit):
        parser().parse_args(["stage2", "--data", "d", "--out", "o", flag, "2"])
    assert "expected a share in [0, 1]" in capsys.readouterr().err
    assert getattr(parser().parse_args(["stage2", "--data", "d", "--out", "o", flag, "0.5"]), field) == 0.5
    assert shown in phase_text(Recipe(**{field: 0.5}).as_phase())
    _phase_from_before(field)


def _phase_from_before(option: str) -> dict:
    """A checkpoint meta whose one loss phase (λ_id 100) was recorded before `option` existed:
    recording the same recipe again must not start a new phase (it trained with the default)."""
    from dsf.train.recipe import Recipe, record_phase
    old = {k: v for k, v in Recipe(lambda_id=100).as_phase().items() if k != option}
    meta = {"step": 0, "loss_phases": [{"from_step": 0, **old}]}
    record_phase(meta, Recipe(lambda_id=100))
    assert len(meta["loss_phases"]) == 1
    return meta


def test_edge_identity_signature_is_the_evaluations_and_recorded():
    """`--id-signature edges`: the loss's signature and gallery are the evaluation's edge signature
    (64×64 gradient magnitude), its own photo scores far better than another's, its gradient stays
    finite on a flat face, and the option is checked, parsed, recorded and shown; a phase from
    before the option trained on grey."""
    from dsf.evaluate.metrics import edge_signature
    from dsf.train.__main__ import parser, phase_text
    from dsf.train.losses import identity_contrast, signature
    from dsf.train.recipe import Recipe
    from dsf.train.stage2 import photo_signatures, signature_side

    rng = np.random.default_rng(11)
    photos = rng.integers(0, 256, (4, 128, 128, 3)).astype(np.uint8)
    faces = jt.array(photos.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0)
    assert signature_side("edges") == 64 and signature_side("grey") == 32
    gallery = photo_signatures(photos, kind="edges")
    assert gallery.shape == (4, 63 * 63)
    np.testing.assert_allclose(gallery.numpy(), edge_signature(photos), atol=1e-5)
    np.testing.assert_allclose(signature(faces, 64, kind="edges").numpy(), edge_signature(photos), atol=1e-5)
    assert photo_signatures(photos, "face", "edges").shape == (4, 43 * 39)
    right = identity_contrast(faces, gallery, [0, 1, 2, 3], 0.02, 64, kind="edges").item()
    wrong = identity_contrast(faces, gallery, [1, 2, 3, 0], 0.02, 64, kind="edges").item()
    assert right < 0.01 and wrong > 5
    flat = jt.zeros((1, 3, 128, 128))
    grad = jt.grad(identity_contrast(flat, gallery, [0], 0.02, 64, kind="edges"), flat).numpy()
    assert np.isfinite(grad).all()

    with pytest.raises(ValueError, match="identity signature must be one of grey, edges"):
        Recipe(id_signature="colour")
    assert parser().parse_args(["stage2", "--data", "d", "--out", "o", "--id-signature", "edges"]).id_signature == "edges"
    assert "λ_id 100 (edge signature)," in phase_text(Recipe(lambda_id=100, id_signature="edges").as_phase())
    assert "signature" not in phase_text(Recipe(lambda_id=100).as_phase())
    _phase_from_before("id_signature")


def test_identity_loss_is_optional_recorded_and_trains():
    from dsf.train.__main__ import parser
    from dsf.train.recipe import Recipe, record_phase
    from dsf.train.stage2 import photo_signatures, train_step

    gmods, disc, opt_g, opt_d, pack, lat = _stage2_batch(4)
    identity = (photo_signatures(pack["photos"], chunk=3), np.arange(4))
    hist = [train_step(gmods, disc, opt_g, opt_d, lat, pack["sketches"], pack["photos"], CFG.canvas,
                       Recipe(lambda_l1=0.0, lambda_id=10.0), identity=identity) for _ in range(4)]
    assert all(np.isfinite(h["g_id"]) for h in hist) and hist[-1]["g_id"] < hist[0]["g_id"]
    face = (photo_signatures(pack["photos"], "face"), np.arange(4))  # the same step on the face region
    assert np.isfinite(train_step(gmods, disc, opt_g, opt_d, lat, pack["sketches"], pack["photos"], CFG.canvas,
                                  Recipe(lambda_id=10.0, id_region="face"), identity=face)["g_id"])
    assert "g_id" not in train_step(gmods, disc, opt_g, opt_d, lat, pack["sketches"], pack["photos"], CFG.canvas)
    assert parser().parse_args(["stage2", "--data", "d", "--out", "o", "--lambda-id", "2"]).lambda_id == 2.0
    meta, loss = {"step": 0}, dict(lambda_fm=5, lambda_l1=100, lambda_local=50, lr=5e-5, lr_decay_steps=0)
    meta["loss_phases"] = [{"from_step": 0, **loss, "local_parts": list(PARTS), "local_weights": {}}]  # older run
    record_phase(meta, Recipe(**loss))  # no identity loss: the same phase
    meta["step"] = 10
    record_phase(meta, Recipe(**loss, lambda_id=1.0))
    assert [(ph["from_step"], ph.get("lambda_id")) for ph in meta["loss_phases"]] == [(0, None), (10, 1.0)]


def test_ssim_loss_is_one_minus_the_evaluations_ssim():
    """The structure loss is 1 − `metrics.ssim` (per channel, valid window) on [−1, 1] batches:
    0 for identical images, larger for worse copies, with a gradient towards the photo."""
    from dsf.evaluate.metrics import ssim
    from dsf.train.losses import ssim_loss

    rng = np.random.default_rng(5)
    photo = rng.uniform(-1, 1, (2, 3, 24, 24)).astype(np.float32)
    for noise in (0.1, 0.5):
        face = np.clip(photo + rng.normal(0, noise, photo.shape), -1, 1).astype(np.float32)
        expected = 1 - ssim((face.transpose(0, 2, 3, 1) + 1) / 2, (photo.transpose(0, 2, 3, 1) + 1) / 2).mean()
        assert ssim_loss(jt.array(face), jt.array(photo)).item() == pytest.approx(expected, abs=1e-4)
    assert ssim_loss(jt.array(photo), jt.array(photo)).item() == pytest.approx(0.0, abs=1e-4)
    face = jt.array(np.zeros_like(photo))
    step = face - 0.5 * jt.grad(ssim_loss(face, jt.array(photo)), face)
    assert ssim_loss(step, jt.array(photo)).item() < ssim_loss(face, jt.array(photo)).item()


def test_ssim_loss_is_optional_recorded_and_trains():
    from dsf.train.__main__ import parser
    from dsf.train.recipe import Recipe, record_phase
    from dsf.train.stage2 import train_step

    gmods, disc, opt_g, opt_d, pack, lat = _stage2_batch(4)
    hist = [train_step(gmods, disc, opt_g, opt_d, lat, pack["sketches"], pack["photos"], CFG.canvas,
                       Recipe(lambda_l1=0.0, lambda_ssim=50.0)) for _ in range(4)]
    assert all(np.isfinite(h["g_ssim"]) for h in hist) and hist[-1]["g_ssim"] < hist[0]["g_ssim"]
    assert "g_ssim" not in train_step(gmods, disc, opt_g, opt_d, lat, pack["sketches"], pack["photos"], CFG.canvas)
    assert parser().parse_args(["stage2", "--data", "d", "--out", "o"]).lambda_ssim is None  # left out: the resumed run's value, else 0
    assert parser().parse_args(["stage2", "--data", "d", "--out", "o", "--lambda-ssim", "200"]).lambda_ssim == 200.0
    loss = dict(lambda_fm=5, lambda_l1=100, lambda_local=0, lr=5e-5, lr_decay_steps=0)
    meta = {"step": 30, "loss_phases": [{"from_step": 0, **loss, "local_parts": list(PARTS), "local_weights": {},
                                         "lambda_id": 0.0, "lr_d": 5e-5, "d_noise": 0.0}]}  # before lambda_ssim
    record_phase(meta, Recipe(**loss))
    assert len(meta["loss_phases"]) == 1
    record_phase(meta, Recipe(**loss, lambda_ssim=200.0))
    assert [(ph["from_step"], ph.get("lambda_ssim")) for ph in meta["loss_phases"]] == [(0, None), (30, 200.0)]


def test_leave_one_out_projection_is_the_inference_projection_without_the_face_itself():
    """A training face is in the bank, so its own projection would give it back unchanged; the
    leave-one-out projection is what `manifold.project` gives it from all the other faces."""
    from dsf.manifold import Bank, project
    from dsf.train.stage2 import leave_one_out_projections

    rng = np.random.default_rng(0)
    bank = {p: rng.normal(size=(40, 8)).astype(np.float32) for p in PARTS}
    bank["nose"][7] = bank["nose"][3]  # twins: each one's projection may use the other
    proj = leave_one_out_projections(bank, 5)
    for i in (0, 3, 7, 39):
        others = Bank(np.delete(bank["nose"], i, axis=0))
        np.testing.assert_allclose(proj["nose"][i], project(bank["nose"][i], others, 5).projected, atol=1e-5)
    np.testing.assert_allclose(project(bank["eye1"][0], Bank(bank["eye1"]), 5).projected, bank["eye1"][0], atol=1e-5)
    assert np.linalg.norm(proj["eye1"][0] - bank["eye1"][0]) > 0.1 * np.linalg.norm(bank["eye1"][0])
    np.testing.assert_allclose(proj["nose"][3], bank["nose"][3], atol=1e-5)  # its twin reconstructs it


def test_refined_latents_blend_a_share_of_rows_toward_their_projection(capsys):
    """`--refine-share s`: for each part independently, a share s of the rows moves toward its
    projection by a refine drawn from [0, 1]; s = 0 leaves the latents as they are, and a share
    outside [0, 1] is refused with a clear error."""
    from dsf.train.__main__ import parser
    from dsf.train.recipe import Recipe
    from dsf.train.stage2 import with_refined

    rng = np.random.default_rng(1)
    lat = {p: rng.normal(size=(2000, 4)).astype(np.float32) for p in PARTS}
    proj = {p: lat[p] + 1.0 for p in PARTS}  # the projection 1 away on every axis: the move is the refine
    assert all(np.array_equal(with_refined(lat, proj, 0.0, rng)[p], lat[p]) for p in PARTS)
    out = with_refined(lat, proj, 0.5, np.random.default_rng(2))
    moves = {p: out[p] - lat[p] for p in PARTS}
    r = moves["mouth"][:, 0]
    np.testing.assert_allclose(moves["mouth"], np.repeat(r[:, None], 4, axis=1), atol=1e-5)  # one refine per row
    assert 0.0 <= r.min() and r.max() <= 1.0 + 1e-6
    assert 0.45 < (r > 0).mean() < 0.55 and abs(r[r > 0].mean() - 0.5) < 0.05
    assert not np.array_equal(moves["mouth"], moves["eye1"])  # each part draws its own
    with pytest.raises(ValueError, match="refine share"):
        Recipe(refine_share=1.5)
    assert parser().parse_args(["stage2", "--data", "d", "--out", "o"]).refine_share is None  # left out: the resumed run's value, else 0
    with pytest.raises(SystemExit):
        parser().parse_args(["stage2", "--data", "d", "--out", "o", "--refine-share", "2"])
    assert "expected a share in [0, 1]" in capsys.readouterr().err


def test_latent_noise_scales_with_each_dimensions_spread(capsys):
    """Noisy training latents: σ × each dimension's spread, independent per row and part; σ = 0
    leaves the latents as they are and a negative σ is refused with a clear error."""
    from dsf.train.recipe import Recipe
    from dsf.train.stage2 import with_noise

    lat = {p: np.zeros((4000, 3), np.float32) for p in PARTS}
    spread = {p: np.array([1.0, 2.0, 0.0], np.float32) for p in PARTS}
    assert all(np.array_equal(with_noise(lat, spread, 0.0, np.random.default_rng(0))[p], lat[p]) for p in PARTS)
    out = with_noise(lat, spread, 0.5, np.random.default_rng(0))
    np.testing.assert_allclose(out["nose"].std(axis=0), [0.5, 1.0, 0.0], atol=0.03)
    assert out["nose"].dtype == np.float32 and not np.array_equal(out["nose"], out["mouth"])
    with pytest.raises(ValueError, match="latent noise"):
        Recipe(latent_noise=-0.1)
    from dsf.train.__main__ import parser

    with pytest.raises(SystemExit):
        parser().parse_args(["stage2", "--data", "d", "--out", "o", "--latent-noise", "-1"])
    assert "expected a number ≥ 0" in capsys.readouterr().err


def test_augmented_faces_are_other_drawings_encoded_afresh(capsys):
    """--augment-share: the chosen rows get an augmented sketch and that sketch's latents under
    the encoders, the others stay; share 0 changes nothing; a share outside [0, 1] is refused
    with a clear error."""
    from dsf.train.bank import encode_all
    from dsf.train.recipe import Recipe
    from dsf.train.stage2 import with_augmented

    encoders = _frozen_encoders()
    sketches = _sketches(16, 2)
    latents = encode_all(encoders, sketches, progress=False)
    same, same_sketches = with_augmented(latents, sketches, encoders, 0.0, np.random.default_rng(0))
    assert same_sketches is sketches and same is latents
    out, drawn = with_augmented(latents, sketches, encoders, 0.5, np.random.default_rng(0))
    changed = np.flatnonzero([not np.array_equal(a, b) for a, b in zip(drawn, sketches)])
    assert 3 <= len(changed) <= 13 and drawn.dtype == np.uint8  # about half, drawn row by row
    _assert_reencoded(out, latents, drawn, changed, encoders)
    with pytest.raises(ValueError, match="augment share"):
        Recipe(augment_share=1.5)
    from dsf.train.__main__ import parser

    with pytest.raises(SystemExit):
        parser().parse_args(["stage2", "--data", "d", "--out", "o", "--augment-share", "-0.5"])
    assert "expected a share in [0, 1]" in capsys.readouterr().err


def test_mirrored_faces_are_new_aligned_faces_and_compared_back(capsys):
    """--mirror-share: the chosen rows' sketches and photos are mirrored about the faces' axis (the
    template's eyes swap places, its nose and mouth stay) and the sketch encoded afresh, the others
    stay; share 0 changes nothing; the identity loss mirrors those faces back before it compares
    them with the gallery, with a gradient; a bad share is refused with a clear error."""
    from dsf.data.align import template_points
    from dsf.train.bank import encode_all
    from dsf.train.data import mirror_all, mirror_columns
    from dsf.train.losses import identity_contrast
    from dsf.train.stage2 import photo_signatures, photo_var, unmirrored, with_mirrored

    cols, t = mirror_columns(128), template_points(128)
    assert cols[int(t[0, 0])] == int(t[1, 0]) and cols[int(t[1, 0])] == int(t[0, 0])  # eye1 ↔ eye2
    assert (cols[:124] == 123 - np.arange(124)).all() and sorted(set(cols)) == list(range(124))
    encoders = _frozen_encoders()
    pack = _pack(8)
    sketches, photos = pack["sketches"], pack["photos"]
    latents = encode_all(encoders, sketches, progress=False)
    same = with_mirrored(latents, sketches, photos, encoders, 0.0, np.random.default_rng(0))
    assert same[0] is latents and same[1] is sketches and same[2] is photos and not same[3].any()
    out, drawn, shot, mirrored = with_mirrored(latents, sketches, photos, encoders, 0.5, np.random.default_rng(0))
    rows, kept = np.flatnonzero(mirrored), np.flatnonzero(~mirrored)
    assert 1 <= len(rows) <= 7
    np.testing.assert_array_equal(drawn[rows], sketches[rows][:, :, cols])
    np.testing.assert_array_equal(shot[rows], photos[rows][:, :, cols])
    np.testing.assert_array_equal(drawn[kept], sketches[kept])
    _assert_reencoded(out, latents, drawn, rows, encoders)

    # A face that is its mirrored photo, mirrored back, is its photo (but for the reflected border).
    faces = photo_var(mirror_all(photos))
    back = unmirrored(faces, np.ones(8, bool)).numpy()
    np.testing.assert_allclose(back[..., :124], photo_var(photos).numpy()[..., :124], atol=1e-6)
    assert unmirrored(faces, np.zeros(8, bool)) is faces and unmirrored(faces) is faces
    gallery = photo_signatures(photos)
    as_mirrored = identity_contrast(unmirrored(faces, np.ones(8, bool)), gallery, np.arange(8), 0.05, 32)
    as_is = identity_contrast(faces, gallery, np.arange(8), 0.05, 32)
    exact = identity_contrast(photo_var(photos), gallery, np.arange(8), 0.05, 32)
    assert abs(as_mirrored.item() - exact.item()) < 0.1 * abs(as_is.item() - exact.item())
    assert np.abs(jt.grad(as_mirrored, faces).numpy()).sum() > 0

    _check_share_option(capsys, "mirror_share", 1.5, ", 50% of faces mirrored")


def test_pencil_drawn_sketches_replace_the_chosen_rows(capsys):
    """--pencil-share: the pencil filter draws a flat photo as white paper and a dark edge as a
    grey stroke beside it, at any canvas; the chosen rows' sketches are drawn afresh from their
    photos and encoded, the others stay; share 0 changes nothing; a bad share is refused."""
    from dsf.data.sketch_extraction import pencil_sketch
    from dsf.train.bank import encode_all
    from dsf.train.data import pencil_all
    from dsf.train.stage2 import with_pencilled

    for size in (64, 128):
        flat = np.full((size, size, 3), 150, np.uint8)
        assert pencil_sketch(flat).shape == (size, size) and (pencil_sketch(flat) >= 254).all()
        edge = flat.copy()
        edge[:, size // 2:] = 30  # a dark half: flat, so white inside; only its border is drawn, on its dark side
        drawn = pencil_sketch(edge).astype(int)
        row = drawn[size // 2]
        assert row[: size // 4].min() >= 254 and row[size // 2] < 200  # paper far away, a stroke at the edge
    encoders = _frozen_encoders()
    pack = _pack(8)
    sketches, photos = pack["sketches"], pack["photos"]
    latents = encode_all(encoders, sketches, progress=False)
    same = with_pencilled(latents, sketches, photos, encoders, 0.0, np.random.default_rng(0))
    assert same[0] is latents and same[1] is sketches
    out, drawn = with_pencilled(latents, sketches, photos, encoders, 0.5, np.random.default_rng(0))
    rows = np.flatnonzero((drawn != sketches).any(axis=(1, 2)))
    assert 1 <= len(rows) <= 7 and drawn.dtype == np.uint8
    np.testing.assert_array_equal(drawn[rows], pencil_all(photos[rows]))
    _assert_reencoded(out, latents, drawn, rows, encoders)

    _check_share_option(capsys, "pencil_share", -0.1, ", 50% of sketches pencil-drawn from the photo")


def test_ink_weighted_l1_counts_strokes_more():
    from dsf.train.losses import ink_weighted_l1, l1

    sketch = np.ones((1, 1, 8, 8), np.float32)
    sketch[..., 3, :] = -1.0  # one black stroke on white paper
    blank = np.ones_like(sketch)
    s, b = jt.array(sketch), jt.array(blank)
    assert ink_weighted_l1(b, s, 0.0).item() == pytest.approx(l1(b, s).item())
    assert ink_weighted_l1(b, s, 4.0).item() > 2 * l1(b, s).item()  # a blank decoding costs more
    assert ink_weighted_l1(s, s, 4.0).item() == 0.0


@pytest.mark.parametrize("kind", ["transpose", "resize"])
def test_upsampling_treats_the_last_row_alike_only_when_resizing(kind):
    """The cause of the published generator's bottom-right speckle: on a constant input a
    transposed conv's last row and column differ from the rest; resize + conv do not."""
    from jittor import nn

    from dsf.networks import upsample

    layers = nn.Sequential(*upsample(4, 3, kind))
    out = layers(jt.ones((1, 4, 8, 8))).numpy()[0]
    corner_like_interior = np.allclose(out[:, -1, -1], out[:, -3, -3], atol=1e-5)  # same row/column parity
    assert corner_like_interior == (kind == "resize")
    assert np.allclose(out, out[:, :1, :1], atol=1e-5) == (kind == "resize")  # transpose: checkerboard too


def test_local_parts_are_checked_and_recorded_as_a_phase(capsys):
    from dsf.train.__main__ import parser
    from dsf.train.recipe import Recipe, check_parts, record_phase

    assert check_parts(("remainder", "nose")) == ("nose", "remainder")  # the paper's order
    with pytest.raises(ValueError, match="subset of eye1"):
        check_parts(("nose", "ear"))
    args = parser().parse_args(["stage2", "--data", "d", "--out", "o", "--local-parts", "nose, remainder"])
    assert args.local_parts == ("nose", "remainder")
    with pytest.raises(SystemExit):
        parser().parse_args(["stage2", "--data", "d", "--out", "o", "--local-parts", "ear"])
    assert "subset of eye1" in capsys.readouterr().err
    weights = dict(lambda_fm=5, lambda_l1=100, lambda_local=30, lr=2e-4, lr_decay_steps=0)
    meta = {"step": 0}
    record_phase(meta, Recipe(**weights))
    meta["step"] = 10
    record_phase(meta, Recipe(**weights, local_parts=PARTS))  # the default: no new phase
    record_phase(meta, Recipe(**weights, local_parts=("nose", "remainder")))
    assert [(ph["from_step"], ph["local_parts"]) for ph in meta["loss_phases"]] == [
        (0, list(PARTS)), (10, ["nose", "remainder"])]


def test_local_weights_scale_each_parts_swaps_and_are_recorded(capsys):
    from dsf.train.__main__ import parser
    from dsf.train.recipe import Recipe, check_weights, record_phase

    weights = check_weights({"eye2": 0.3, "eye1": 0.3})
    assert list(weights) == ["eye1", "eye2"]
    swaps = [Recipe(lambda_local=50.0, local_weights=weights).local_swap(step) for step in range(6)]
    assert swaps == [("eye1", 15.0), ("eye2", 15.0), ("nose", 50.0), ("mouth", 50.0), ("remainder", 50.0),
                     ("eye1", 15.0)]
    assert Recipe(lambda_local=30.0, local_parts=("nose", "remainder")).local_swap(1) == ("remainder", 30.0)
    with pytest.raises(ValueError, match="PART=W > 0"):
        Recipe(local_weights={"ear": 1.0})
    for bad in ({"ear": 1.0}, {"nose": 0.0}, {"nose": -1.0}):
        with pytest.raises(ValueError, match="PART=W > 0"):
            check_weights(bad)
    args = parser().parse_args(["stage2", "--data", "d", "--out", "o", "--local-weights", "eye1=0.3, eye2=0.3"])
    assert args.local_weights == {"eye1": 0.3, "eye2": 0.3}
    for bad in ("eye1", "eye1=x", "ear=1"):
        with pytest.raises(SystemExit):
            parser().parse_args(["stage2", "--data", "d", "--out", "o", "--local-weights", bad])
        assert "e.g. eye1=0.3" in capsys.readouterr().err
    meta, loss = {"step": 0}, dict(lambda_fm=5, lambda_l1=100, lambda_local=50, lr=2e-4, lr_decay_steps=0)
    record_phase(meta, Recipe(**loss))
    record_phase(meta, Recipe(**loss, local_weights={}))  # the default: no new phase
    meta["step"] = 10
    record_phase(meta, Recipe(**loss, local_weights=weights))
    assert [(ph["from_step"], ph["local_weights"]) for ph in meta["loss_phases"]] == [(0, {}), (10, weights)]


def test_discriminator_rate_is_a_phase_of_its_own():
    """--lr-d defaults to --lr; a phase recorded before it existed (one rate) continues unchanged
    when the rates still agree, and a slower discriminator starts a new phase the model card names."""
    from dsf.train.__main__ import parser
    from dsf.train.recipe import Recipe, record_phase

    assert parser().parse_args(["stage2", "--data", "d", "--out", "o"]).lr_d is None
    assert parser().parse_args(["stage2", "--data", "d", "--out", "o", "--lr-d", "1e-5"]).lr_d == 1e-5
    loss = dict(lambda_fm=5, lambda_l1=100, lambda_local=0, lr=5e-5, lr_decay_steps=0)
    meta = {"step": 20, "loss_phases": [{"from_step": 0, **loss, "local_parts": list(PARTS), "local_weights": {},
                                         "lambda_id": 0.0}]}  # written before lr_d existed
    record_phase(meta, Recipe(**loss))
    record_phase(meta, Recipe(**loss, lr_d=5e-5))
    assert len(meta["loss_phases"]) == 1
    record_phase(meta, Recipe(**loss, lr_d=1e-5))
    assert [(ph["from_step"], ph.get("lr_d")) for ph in meta["loss_phases"]] == [(0, None), (20, 1e-5)]


def test_instance_noise_reaches_only_the_discriminator_and_is_a_phase():
    """--d-noise σ: the discriminator sees each image plus fresh N(0, σ²) noise (σ 0: the image
    itself); the step still trains, and the setting is recorded as a phase the model card names."""
    from dsf._jittor import jt
    from dsf.train.__main__ import parser
    from dsf.train.recipe import Recipe, record_phase
    from dsf.train.stage2 import train_step, with_instance_noise

    x = jt.zeros((4, 3, 16, 16))
    assert with_instance_noise(x, 0.0) is x
    noisy = with_instance_noise(x, 0.2).numpy()
    assert abs(noisy.std() - 0.2) < 0.02 and not np.allclose(noisy, with_instance_noise(x, 0.2).numpy())
    gmods, disc, opt_g, opt_d, pack, lat = _stage2_batch(8)
    hist = [train_step(gmods, disc, opt_g, opt_d, lat, pack["sketches"], pack["photos"], CFG.canvas, Recipe(d_noise=0.3))
            for _ in range(4)]
    assert all(np.isfinite(v) for h in hist for v in h.values()) and hist[-1]["g_l1"] < hist[0]["g_l1"]
    assert parser().parse_args(["stage2", "--data", "d", "--out", "o"]).d_noise is None  # left out: the resumed run's value, else 0
    assert parser().parse_args(["stage2", "--data", "d", "--out", "o", "--d-noise", "0.1"]).d_noise == 0.1
    loss = dict(lambda_fm=5, lambda_l1=100, lambda_local=0, lr=5e-5, lr_decay_steps=0)
    meta = {"step": 20, "loss_phases": [{"from_step": 0, **loss, "local_parts": list(PARTS), "local_weights": {},
                                         "lambda_id": 0.0, "lr_d": 5e-5}]}  # written before d_noise existed
    record_phase(meta, Recipe(**loss))
    assert len(meta["loss_phases"]) == 1
    record_phase(meta, Recipe(**loss, d_noise=0.1))
    assert [(ph["from_step"], ph.get("d_noise")) for ph in meta["loss_phases"]] == [(0, None), (20, 0.1)]


def test_epochs_and_batch_have_stage_defaults_and_must_be_positive(capsys):
    """Left out, each stage takes its own default; 0 or a negative count is refused at the
    command line (it once silently became the default)."""
    from dsf.train.__main__ import parser

    base = ["--data", "d", "--out", "o"]
    one = parser().parse_args(["stage1", *base])
    two = parser().parse_args(["stage2", *base, "--epochs", "7"])
    assert (one.epochs, one.batch, two.epochs, two.batch) == (3, 16, 7, 8)
    both = parser().parse_args(["all", *base])
    assert (both.stage1_epochs, both.stage1_batch, both.stage2_epochs, both.stage2_batch) == (3, 16, 100, 8)
    for bad in (["stage2", *base, "--epochs", "0"], ["stage1", *base, "--batch", "-2"], ["all", *base, "--stage2-batch", "0"]):
        with pytest.raises(SystemExit):
            parser().parse_args(bad)
        assert "whole number ≥ 1" in capsys.readouterr().err


def test_a_resumed_run_keeps_its_recipe_unless_options_change_it(tmp_path, monkeypatch, capsys):
    """Left out, a recipe option keeps the resumed run's last loss phase (it once fell back to the
    defaults unannounced, and a campaign trained 80 minutes on the wrong losses); a new run takes
    the defaults; a finished run trained on drops its decay; `--lr` alone sets both rates."""
    import dataclasses

    from dsf.train.__main__ import parser
    from dsf.train.recipe import Recipe, record_phase, resumed_recipe

    def given(*options):
        args = parser().parse_args(["stage2", "--data", "d", "--out", "o", *options])
        return {name: getattr(args, name) for name in Recipe.__dataclass_fields__}

    assert set(given().values()) == {None}
    assert resumed_recipe(given(), None) == Recipe()
    shipped = Recipe(lambda_fm=5, lambda_l1=400, lambda_local=100, local_weights={"nose": 4.0}, lambda_id=10,
                     lr=5e-5, lr_d=1.25e-5, lr_decay_steps=250)
    meta = {"step": 0}
    record_phase(meta, Recipe())
    meta["step"] = 100
    record_phase(meta, shipped)
    assert resumed_recipe(given(), meta) == shipped  # killed mid-decay and resumed: the same phase
    meta["step"] = 350
    record_phase(meta, resumed_recipe(given(), meta))
    assert [ph["from_step"] for ph in meta["loss_phases"]] == [0, 100]
    meta["done"] = True
    assert resumed_recipe(given(), meta) == dataclasses.replace(shipped, lr_decay_steps=0)
    changed = resumed_recipe(given("--lambda-l1", "200", "--lr", "1e-4", "--local-weights", "eye1=0.5"), meta)
    assert (changed.lambda_l1, changed.lr, changed.lr_d, changed.lambda_id, changed.local_weights) == \
        (200.0, 1e-4, 1e-4, 10.0, {"eye1": 0.5})
    assert resumed_recipe(given("--lr-d", "1e-6"), meta).lr == 5e-5
    # The command line resolves it from the run's checkpoint and says which recipe it trains with.
    import dsf.train.stage2 as stage2
    from dsf.train.__main__ import cmd_stage2

    (tmp_path / "stage2").mkdir()
    np.savez(tmp_path / "stage2" / "checkpoint.npz", meta=json.dumps(meta))
    seen = {}

    def fake_training(*args, recipe, **kw):
        seen["recipe"] = recipe
        return {"step": 350, "epoch": 0, "pos": 0, "seconds": 0.0, "done": False}

    monkeypatch.setattr(stage2, "train_stage2", fake_training)
    assert cmd_stage2(parser().parse_args(["stage2", "--data", "d", "--out", str(tmp_path)]), CFG) == meta
    assert not seen and "finished at step 350; nothing to train. Add --extend" in capsys.readouterr().out
    cmd_stage2(parser().parse_args(["stage2", "--data", "d", "--out", str(tmp_path), "--extend"]), CFG)
    assert seen["recipe"] == dataclasses.replace(shipped, lr_decay_steps=0)
    assert "stage2 recipe: λ_FM 5, λ_L1 400, λ_local 100 (eye1, eye2, nose ×4, mouth, remainder), λ_id 10, lr 5e-05 (D 1.25e-05)" \
        in capsys.readouterr().out


def test_weight_average_follows_the_weights_rides_in_the_checkpoint_and_is_exported(tmp_path, capsys):
    """`--ema-decay d`: after each step the average moves (1 − d) of the way to the weights
    (BatchNorm statistics too); a run that switches it on starts it at its weights; the
    checkpoint keeps it; export takes it unless `--live-weights`."""
    import argparse

    from dsf.params import load_model
    from dsf.train.__main__ import cmd_export, parser
    from dsf.train.average import WeightAverage
    from dsf.train.bank import build_bank
    from dsf.train.recipe import Recipe
    from dsf.train.stage1 import train_stage1
    from dsf.train.stage2 import build_stage2, load_stage2, train_stage2

    live = build_stage2(CFG)[0]
    average = WeightAverage.resume(live, build_stage2(CFG)[0], 0.75, tmp_path / "no_checkpoint.npz")
    start = _snapshot(average.copies)
    assert start["generator"].keys() == _snapshot(live)["generator"].keys()
    for k, m in live.items():
        for n, v in m.state_dict().items():
            np.testing.assert_array_equal(start[k][n], v.numpy())
        for v in m.parameters():
            v.update(v + 1.0)
    average.update()
    moved = _snapshot(average.copies)
    for k in start:
        for n in ("conv.0.conv_block.2.running_var", "fc.0.weight") if k != "generator" else start[k]:
            np.testing.assert_allclose(moved[k][n], start[k][n] + 0.25, rtol=1e-5, atol=1e-5)

    pack = _pack(16)
    out, kw = tmp_path / "run", dict(pack=pack, val=_pack(8, 5), progress=False, batch=8)
    train_stage1(None, CFG, out, epochs=1, max_steps=1, **kw)
    build_bank(None, CFG, out, pack=pack, progress=False)
    train_stage2(None, CFG, out, epochs=9, max_steps=1, **kw)
    with pytest.raises(ValueError, match="no weight average"):
        load_stage2(out, CFG, average=True)
    m = train_stage2(None, CFG, out, epochs=9, max_steps=2, recipe=Recipe(ema_decay=0.5), **kw)
    assert m["loss_phases"][-1]["ema_decay"] == 0.5 and m["step"] == 3
    kept, last = load_stage2(out, CFG, average=True), load_stage2(out, CFG)
    name = "model.1.weight"
    assert not np.allclose(kept["generator"].state_dict()[name].numpy(), last["generator"].state_dict()[name].numpy())

    def exported(*flags):
        cmd_export(parser().parse_args(["export", "--out", str(out), "--params", str(tmp_path / "p"), *flags]), CFG)
        _, nets, _, info = load_model(tmp_path / "p")
        return nets["generator"].state_dict()[name].numpy(), info["model_card"]

    weights, card = exported()
    np.testing.assert_allclose(weights, kept["generator"].state_dict()[name].numpy(), rtol=2e-3, atol=2e-3)
    assert "moving average of their weights" in card and "weights averaged (EMA decay 0.5)" in card
    weights, card = exported("--live-weights")
    np.testing.assert_allclose(weights, last["generator"].state_dict()[name].numpy(), rtol=2e-3, atol=2e-3)
    assert "the weights of the last step" in card
    for bad in ("1", "-0.1", "x"):
        with pytest.raises(SystemExit):
            parser().parse_args(["stage2", "--data", "d", "--out", "o", "--ema-decay", bad])
        assert "expected a decay in [0, 1)" in capsys.readouterr().err
