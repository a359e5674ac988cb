"""Build the aligned training set: photos, sketches, manifest, packs and a contact sheet.

    python -m dsf.data prepare --source ../shared/data --out data/prepared_256 --size 256

Sources (layout of ../shared/data, see its README):
  fs2k/        photo/photoN/imageNNNN.jpg + sketch/sketchN/sketchNNNN.jpg, anno_{train,test}.json.
               anno_test.json images form the `test` split (never used for training or banks);
               anno_train.json images are `train`. Sex from `gender` (0 male, 1 female).
               Sketches are the real artist sketches, warped with their photo's transform.
  celebamask_mini/{train,val,test}/images/*.jpg   `train`, `val`, `val`. Sex unknown.
  scut_fbp5500/images/{AF,AM,CF,CM}NNN.jpg        `train`, with ~2 % held out as `val`
               (deterministic by a hash of the id). Sex from the second letter.
Non-FS2K photos get the kit's own line sketch (dsf.data.sketch_extraction).

Per face: detect landmarks (mediapipe face mesh, or the injected `detector`), fit the template
similarity (dsf.data.align), reject with a counted reason (align.reject_reason, plus:
`no_face` when detection fails, `unreadable` for a broken file, and for FS2K
`sketch_misregistered` when the centres detected on the artist sketch lie more than
MAX_SKETCH_OFFSET eye distances, on average, from the photo's; sketches on which no face is
found are kept with `sketch_offset` None), warp, write.

Resumable: every processed face appends one line to `records.jsonl`; a rerun skips the ids
already there and then rebuilds manifest, summary, packs and figures from all records.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import zipfile
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

from ..components import windows
from .align import Thresholds, align_face, reject_reason, rescale, warp_photo, warp_sketch
from .dataset import SPLITS, read_jsonl
from .landmarks import CENTRE_NAMES
from .sketch_extraction import MIN_WORK_SIZE, extract_sketch, normalise_artist_sketch

MAX_SKETCH_OFFSET = 0.20
"""FS2K pairs whose sketch centres sit > this × eye distance (mean of 4 centres) from the photo's
are rejected. On FS2K the offset has median 0.06 and 99th percentile 0.16; pairs above 0.2 have
the drawn eyes at the photo's brows or the drawn mouth at its chin (~0.5 % of pairs)."""

REASONS = ("unreadable", "no_face", "roll_too_large", "yaw_too_large", "too_small", "out_of_frame",
           "bad_alignment", "sketch_misregistered")
SCUT_VAL_PERCENT = 2


@dataclass(frozen=True)
class Item:
    """One source photo to prepare."""

    id: str
    source: str
    group: str
    split: str
    sex: str | None
    src_path: str
    sketch_src_path: str | None = None


# ---------------------------------------------------------------------------- listing sources

def list_items(source: Path) -> list[Item]:
    """Every photo under the shared-data layout, with split and sex; raises if none is there."""
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"source folder {source} does not exist (expected the shared data, e.g. ../shared/data)")
    items = _fs2k(source) + _celebamask(source) + _scut(source)
    if not items:
        raise FileNotFoundError(
            f"no photos found under {source}: expected fs2k/photo/photoN/*.jpg with fs2k/anno_*.json, "
            "celebamask_mini/<split>/images/*.jpg and/or scut_fbp5500/images/*.jpg")
    ids = Counter(it.id for it in items)
    if max(ids.values()) > 1:
        raise ValueError(f"duplicate ids in {source}: {[i for i, n in ids.items() if n > 1][:5]}")
    return items


def _fs2k(root: Path) -> list[Item]:
    base = root / "fs2k"
    items = []
    for split, anno in (("train", "anno_train.json"), ("test", "anno_test.json")):
        if not (base / anno).is_file():
            continue
        for entry in json.loads((base / anno).read_text()):
            folder, stem = entry["image_name"].split("/")            # "photo1", "image0005"
            photo = _with_extension(base / "photo" / folder, stem)
            sketch = _with_extension(base / "sketch" / folder.replace("photo", "sketch"), stem.replace("image", "sketch"))
            if photo is None or sketch is None:
                raise FileNotFoundError(f"FS2K {entry['image_name']}: photo or sketch file missing under {base}")
            items.append(Item(
                id=f"fs2k_{folder}_{stem}", source="fs2k", group=f"fs2k/{folder}", split=split,
                sex={0: "male", 1: "female"}.get(entry.get("gender")),
                src_path=str(photo.relative_to(root)), sketch_src_path=str(sketch.relative_to(root))))
    return items


def _with_extension(folder: Path, stem: str) -> Path | None:
    for ext in (".jpg", ".png", ".jpeg"):
        if (folder / (stem + ext)).is_file():
            return folder / (stem + ext)
    return None


def _celebamask(root: Path) -> list[Item]:
    items = []
    for sub, split in (("train", "train"), ("val", "val"), ("test", "val")):
        for path in sorted((root / "celebamask_mini" / sub / "images").glob("*.jpg")):
            items.append(Item(id=f"celebamask_{path.stem}", source="celebamask", group=f"celebamask/{sub}",
                              split=split, sex=None, src_path=str(path.relative_to(root))))
    return items


def _scut(root: Path) -> list[Item]:
    items = []
    for path in sorted((root / "scut_fbp5500" / "images").glob("*.jpg")):
        uid = f"scut_{path.stem}"
        held_out = int(hashlib.md5(uid.encode()).hexdigest(), 16) % 100 < SCUT_VAL_PERCENT
        items.append(Item(id=uid, source="scut", group="scut", split="val" if held_out else "train",
                          sex={"F": "female", "M": "male"}.get(path.stem[1:2]), src_path=str(path.relative_to(root))))
    return items


# ---------------------------------------------------------------------------- one face

def process(item: Item, source: Path, out: Path, size: int, detector, thresholds: Thresholds = Thresholds()) -> dict:
    """Align one face and write its photo and sketch; returns its record (kept or rejected)."""
    record = {"id": item.id, "source": item.source, "group": item.group, "split": item.split, "sex": item.sex,
              "src_path": item.src_path, "sketch_src_path": item.sketch_src_path, "canvas": size}
    bgr = cv2.imread(str(source / item.src_path), cv2.IMREAD_COLOR)
    sketch_grey = cv2.imread(str(source / item.sketch_src_path), cv2.IMREAD_GRAYSCALE) if item.sketch_src_path else None
    if bgr is None or (item.sketch_src_path and sketch_grey is None):
        return {**record, "status": "rejected", "reason": "unreadable"}
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    centres = detector(rgb)
    if centres is None:
        return {**record, "status": "rejected", "reason": "no_face"}
    a = align_face(centres, (rgb.shape[1], rgb.shape[0]), size)
    record.update(matrix=np.round(a.matrix, 6).tolist(), quality=a.quality(),
                  eye_error_px=round(a.eye_error_px, 3), eye_error_frac=round(a.eye_error_frac, 5),
                  landmarks_aligned={n: [round(float(v), 2) for v in p] for n, p in zip(CENTRE_NAMES, a.aligned)})
    reason = reject_reason(a, thresholds)
    if reason is None and sketch_grey is not None:
        offset = sketch_offset(centres, sketch_grey, detector)
        record["quality"]["sketch_offset"] = None if offset is None else round(offset, 4)
        if offset is not None and offset > MAX_SKETCH_OFFSET:
            reason = "sketch_misregistered"
    if reason is not None:
        return {**record, "status": "rejected", "reason": reason}

    photo = warp_photo(rgb, a.matrix, size)
    if sketch_grey is not None:
        sketch, kind = warp_sketch(normalise_artist_sketch(sketch_grey), a.matrix, size), "artist"
    else:
        sketch, kind = line_sketch(rgb, a.matrix, size), "extracted"
    for folder, image in (("photos", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)), ("sketches", sketch)):
        path = out / folder / item.split / f"{item.id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), image)
    return {**record, "status": "kept", "sketch_kind": kind}


def line_sketch(rgb: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The kit's line sketch of a source photo on the aligned canvas. Canvases below
    MIN_WORK_SIZE are drawn from a warp at that size and area-downsampled (finer lines than
    drawing on the small photo)."""
    work = max(size, MIN_WORK_SIZE)
    sketch = extract_sketch(warp_photo(rgb, rescale(matrix, size, work), work))
    return sketch if work == size else cv2.resize(sketch, (size, size), interpolation=cv2.INTER_AREA)


def sketch_offset(photo_centres, sketch_grey: np.ndarray, detector) -> float | None:
    """Mean distance between the centres detected on the photo and on its artist sketch, in
    photo eye distances; None when no face is found on the sketch. The face mesh detects
    pencil sketches well, so this measures registration directly on eyes, nose and mouth."""
    on_sketch = detector(cv2.cvtColor(sketch_grey, cv2.COLOR_GRAY2RGB))
    if on_sketch is None:
        return None
    eye_distance = np.linalg.norm(photo_centres.points[1] - photo_centres.points[0])
    return float(np.linalg.norm(on_sketch.points - photo_centres.points, axis=1).mean() / max(eye_distance, 1e-9))


# ---------------------------------------------------------------------------- the run

_worker_state: dict = {}


def _init_worker(source, out, size, detector):
    cv2.setNumThreads(1)
    if detector is None:
        from .landmarks import MeshDetector
        detector = MeshDetector()
    _worker_state.update(source=source, out=out, size=size, detector=detector)


def _work(item: Item) -> dict:
    s = _worker_state
    return process(item, s["source"], s["out"], s["size"], s["detector"])


def prepare(source: str | Path, out: str | Path, size: int = 256, workers: int = 2, detector=None,
            limit: int | None = None, progress: bool = True) -> dict:
    """Prepare every photo under `source` into `out` (see the module docstring); returns the summary.

    detector: a callable rgb -> FaceCentres | None; None builds mediapipe's face mesh in each
              worker. The injection point for tests (a stub must be picklable if workers > 1).
    limit:    prepare only the first `limit` photos of each group (quick trial runs).
    """
    source, out = Path(source), Path(out)
    windows(size)  # validates the canvas
    items = list_items(source)
    if limit is not None:
        by_group = defaultdict(list)
        for it in items:
            by_group[it.group].append(it)
        items = [it for group in by_group.values() for it in group[:limit]]
    out.mkdir(parents=True, exist_ok=True)
    _check_settings(out, {"size": size, "source": str(source.resolve())})
    records_path = out / "records.jsonl"
    done = {r["id"] for r in read_jsonl(records_path)} if records_path.exists() else set()
    todo = [it for it in items if it.id not in done]
    print(f"{len(items)} photos under {source}; {len(items) - len(todo)} already prepared, {len(todo)} to do "
          f"(canvas {size}, {workers} worker{'s' if workers != 1 else ''})")

    start = time.time()
    with open(records_path, "a", encoding="utf-8") as log:
        for record in _run(todo, source, out, size, workers, detector, progress):
            log.write(json.dumps(record) + "\n")
            log.flush()
    elapsed = time.time() - start

    wanted = {it.id for it in items}
    records = {r["id"]: r for r in read_jsonl(records_path) if r["id"] in wanted}
    summary = finalise(source, out, size, list(records.values()), elapsed)
    print(format_table(summary))
    return summary


def _check_settings(out: Path, settings: dict) -> None:
    path = out / "settings.json"
    if path.exists():
        old = json.loads(path.read_text())
        if old != settings:
            raise ValueError(f"{out} was prepared with {old}, not {settings}: use another --out or delete it")
    else:
        path.write_text(json.dumps(settings, indent=2))


def _run(items, source, out, size, workers, detector, progress):
    from tqdm import tqdm

    bar = tqdm(total=len(items), disable=not progress or not items, unit="face", smoothing=0.05)
    if workers <= 1:
        _init_worker(source, out, size, detector)
        results = map(_work, items)
    else:
        pool = get_context("fork").Pool(workers, initializer=_init_worker, initargs=(source, out, size, detector))
        results = pool.imap_unordered(_work, items, chunksize=8)
    try:
        for record in results:
            bar.update()
            yield record
    finally:
        bar.close()
        if workers > 1:
            pool.terminate()


# ---------------------------------------------------------------------------- outputs

def finalise(source: Path, out: Path, size: int, records: list[dict], elapsed: float) -> dict:
    """Write manifest, rejected list, summary, packs, contact sheet and the extractor figure."""
    records.sort(key=lambda r: r["id"])
    kept = [r for r in records if r["status"] == "kept"]
    _write_jsonl(out / "manifest.jsonl", [{k: v for k, v in r.items() if k != "status"} for r in kept])
    _write_jsonl(out / "rejected.jsonl", [r for r in records if r["status"] == "rejected"])
    summary = summarise(records, size, elapsed)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    for split in SPLITS:
        write_pack(out, [r for r in kept if r["split"] == split], out / f"pack_{split}.npz", size)
    if kept:
        contact_sheet(out, kept, out / "contact_sheet.png")
    artist = [r for r in kept if r.get("sketch_kind") == "artist"]
    if artist:
        extractor_figure(source, out, artist, out / "extractor_vs_artist.png")
    return summary


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)


def summarise(records: list[dict], size: int, elapsed: float) -> dict:
    """Counts kept / rejected per reason per group and per source, and the mean eye error."""
    def counts(rows):
        kept = [r for r in rows if r["status"] == "kept"]
        reasons = Counter(r["reason"] for r in rows if r["status"] == "rejected")
        errors = [r["eye_error_px"] for r in kept]
        return {"total": len(rows), "kept": len(kept), "kept_frac": round(len(kept) / max(len(rows), 1), 4),
                "rejected": {reason: reasons.get(reason, 0) for reason in REASONS},
                "mean_eye_error_px": round(float(np.mean(errors)), 3) if errors else None,
                "mean_eye_error_frac": round(float(np.mean(errors)) / size, 5) if errors else None}

    by = defaultdict(lambda: defaultdict(list))
    for r in records:
        by["group"][r["group"]].append(r)
        by["source"][r["source"]].append(r)
        by["split"][r["split"]].append(r)
    kept = [r for r in records if r["status"] == "kept"]
    return {
        "canvas": size,
        "per_group": {g: counts(rows) for g, rows in sorted(by["group"].items())},
        "per_source": {s: counts(rows) for s, rows in sorted(by["source"].items())},
        "kept_per_split": {s: sum(r["status"] == "kept" for r in rows) for s, rows in sorted(by["split"].items())},
        "sketch_kinds": dict(Counter(r["sketch_kind"] for r in kept)),
        "sketch_offset_unverified": sum(1 for r in kept if r["sketch_kind"] == "artist" and r["quality"].get("sketch_offset") is None),
        "all": counts(records),
        "thresholds": {**asdict(Thresholds()), "max_sketch_offset": MAX_SKETCH_OFFSET},
        "seconds_this_run": round(elapsed, 1),
    }


def format_table(summary: dict) -> str:
    """The counts as a plain-text table (one row per group, then per source, then all)."""
    reasons = [r for r in REASONS if any(c["rejected"][r] for c in summary["per_source"].values())] or ["no_face"]
    head = f"{'group':<18}{'total':>7}{'kept':>7}{'kept%':>7}" + "".join(f"{r:>{max(len(r), 5) + 2}}" for r in reasons) + f"{'eye err px (%)':>17}"
    lines = [f"canvas {summary['canvas']}", head, "-" * len(head)]

    def row(name, c):
        err = f"{c['mean_eye_error_px']:.2f} ({100 * c['mean_eye_error_frac']:.2f})" if c["mean_eye_error_px"] is not None else "-"
        return (f"{name:<18}{c['total']:>7}{c['kept']:>7}{100 * c['kept_frac']:>7.1f}"
                + "".join(f"{c['rejected'][r]:>{max(len(r), 5) + 2}}" for r in reasons) + f"{err:>17}")

    lines += [row(g, c) for g, c in summary["per_group"].items()] + ["-" * len(head)]
    lines += [row(s, c) for s, c in summary["per_source"].items()] + ["-" * len(head), row("all", summary["all"])]
    omitted = [r for r in REASONS if r not in reasons]
    if omitted:
        lines.append(f"no rejections for: {', '.join(omitted)}")
    lines.append(f"kept per split: {summary['kept_per_split']}; sketches: {summary['sketch_kinds']} "
                 f"({summary['sketch_offset_unverified']} artist sketches without a registration check)")
    return "\n".join(lines)


def write_pack(out: Path, rows: list[dict], path: Path, size: int) -> None:
    """Stream the split's images into an uncompressed .npz (no pickle), one image at a time."""
    n = len(rows)
    strings = {
        "ids": np.array([r["id"] for r in rows], dtype="U64"),
        "sex": np.array([r["sex"] or "" for r in rows], dtype="U8"),
        "source": np.array([r["source"] for r in rows], dtype="U16"),
    }
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, shape, folder, flag in (("photos", (n, size, size, 3), "photos", cv2.IMREAD_COLOR),
                                          ("sketches", (n, size, size), "sketches", cv2.IMREAD_GRAYSCALE)):
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_2_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
                for r in rows:
                    image = cv2.imread(str(out / folder / r["split"] / f"{r['id']}.png"), flag)
                    if image is None or image.shape[:2] != (size, size):
                        raise FileNotFoundError(f"{folder}/{r['split']}/{r['id']}.png missing or not {size}²: rerun prepare")
                    f.write(np.ascontiguousarray(image[..., ::-1] if image.ndim == 3 else image).tobytes())
        for name, array in strings.items():
            with zf.open(f"{name}.npy", "w") as f:
                np.lib.format.write_array(f, array, allow_pickle=False)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- figures

WINDOW_COLOURS = {"eye1": (230, 40, 40), "eye2": (40, 90, 230), "nose": (30, 170, 30), "mouth": (240, 140, 0)}
TILE = 256


def _load(out: Path, r: dict) -> tuple[np.ndarray, np.ndarray]:
    photo = cv2.cvtColor(cv2.imread(str(out / "photos" / r["split"] / f"{r['id']}.png")), cv2.COLOR_BGR2RGB)
    sketch = cv2.imread(str(out / "sketches" / r["split"] / f"{r['id']}.png"), cv2.IMREAD_GRAYSCALE)
    return photo, sketch


def _tile(image: np.ndarray, size: int = TILE) -> np.ndarray:
    image = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def _tile_with_windows(tile: np.ndarray, canvas: int, landmarks: dict | None) -> np.ndarray:
    scale = tile.shape[0] / canvas
    for part, w in windows(canvas).items():
        if part in WINDOW_COLOURS:
            x0, y0 = int(round(w.x * scale)), int(round(w.y * scale))
            x1, y1 = int(round((w.x + w.size) * scale)) - 1, int(round((w.y + w.size) * scale)) - 1
            cv2.rectangle(tile, (x0, y0), (x1, y1), WINDOW_COLOURS[part], 1)
    for part, (x, y) in (landmarks or {}).items():
        cv2.circle(tile, (int(round(x * scale)), int(round(y * scale))), 3, WINDOW_COLOURS[part], -1)
    return tile


def _sample(rows: list[dict], n: int, seed: int = 0) -> list[dict]:
    """n rows at random, spread evenly over groups so every source shows."""
    rng = np.random.default_rng(seed)
    by_group = defaultdict(list)
    for r in rows:
        by_group[r["group"]].append(r)
    pools = [list(rng.permutation(len(g))) for g in by_group.values()]
    groups = list(by_group.values())
    picked = []
    while len(picked) < min(n, len(rows)):
        for g, pool in zip(groups, pools):
            if pool and len(picked) < n:
                picked.append(g[pool.pop()])
    return picked


def contact_sheet(out: Path, kept: list[dict], path: Path, pairs: int = 24, per_row: int = 4) -> None:
    """Random aligned photo/sketch pairs with the four component windows (and the aligned
    centres as dots: eye1 red, eye2 blue, nose green, mouth orange) drawn on both."""
    tiles = []
    for r in _sample(kept, pairs):
        photo, sketch = _load(out, r)
        pair = [_tile_with_windows(_tile(x), r["canvas"], r["landmarks_aligned"]) for x in (photo, sketch)]
        cv2.putText(pair[0], r["id"][:34], (4, TILE - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(np.hstack(pair))
    _save_grid(tiles, per_row, path)


def extractor_figure(source: Path, out: Path, artist_rows: list[dict], path: Path, faces: int = 8, tile: int = 144) -> None:
    """Photo / FS2K artist sketch / the kit's line sketch of the same photo, one face per column."""
    columns = []
    for r in _sample(artist_rows, faces, seed=1):
        photo, artist = _load(out, r)
        rgb = cv2.cvtColor(cv2.imread(str(source / r["src_path"])), cv2.COLOR_BGR2RGB)
        extracted = line_sketch(rgb, np.array(r["matrix"]), r["canvas"])
        columns.append(np.vstack([_tile(photo, tile), _tile(artist, tile), _tile(extracted, tile)]))
    _save_grid(columns, len(columns), path)


def _save_grid(tiles: list[np.ndarray], per_row: int, path: Path) -> None:
    blank = np.full_like(tiles[0], 255)
    rows = [np.hstack(tiles[i:i + per_row] + [blank] * (per_row - len(tiles[i:i + per_row])))
            for i in range(0, len(tiles), per_row)]
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
