"""Command line: `python -m dsf.data prepare --source ../shared/data --out data/prepared_256 --size 256`."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dsf.data", description="Training data for dsf.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="align photos to the template, make sketches, write manifest and packs",
                            description="Align every photo under --source to the component template, pair it with "
                                        "its artist sketch (FS2K) or the kit's line sketch, and write photos, "
                                        "sketches, manifest.jsonl, summary.json, pack_<split>.npz and "
                                        "contact_sheet.png to --out. Rerunning resumes.")
    p.add_argument("--source", required=True, help="shared data folder (fs2k/, celebamask_mini/, scut_fbp5500/)")
    p.add_argument("--out", required=True, help="output folder (keep it out of git, e.g. data/prepared_256)")
    p.add_argument("--size", type=int, default=256, help="canvas side, a multiple of 32 (default 256; 128 and 512 work)")
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.add_argument("--limit", type=int, default=None, help="only the first N photos of each group (a quick trial)")
    args = parser.parse_args(argv)

    from .prepare import prepare  # needs OpenCV; mediapipe is loaded by the workers

    try:
        prepare(args.source, args.out, size=args.size, workers=args.workers, limit=args.limit)
    except (FileNotFoundError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
