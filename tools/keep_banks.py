"""Give an exported folder the banks of the folder it was fine-tuned from.

    python tools/keep_banks.py runs/export_X                 # banks from params/compact128
    python tools/keep_banks.py runs/export_X --from params/compact128

Stage 2 never changes the encoders, so an export's banks are the shipped ones re-encoded: on
another machine (the data prepared anew) they differ only by float16 rounding, yet they are new
bytes in git (31.5 MB for compact128). This copies the source's banks into the export and
rewrites its manifest, after checking that both folders hold the same config and the very same
encoder files (otherwise the banks would not be the encoders' latents and it refuses).
"""
import argparse
import json
import shutil
import sys
from pathlib import Path


def keep_banks(export, source="params/compact128") -> Path:
    import dsf  # noqa: F401  (Jittor's environment defaults)
    from dsf.params import verify_manifest

    export, source = Path(export), Path(source)
    files, source_files = verify_manifest(export), verify_manifest(source)
    for rel in ["config.json", *sorted(r for r in source_files if r.startswith("weights/encoder__"))]:
        if files.get(rel) != source_files[rel]:
            raise SystemExit(f"{export} and {source} differ in {rel}: the banks belong to other encoders")
    manifest = json.loads((export / "manifest.json").read_text(encoding="utf-8"))
    for rel in sorted(r for r in source_files if r.startswith("banks/")):
        shutil.copyfile(source / rel, export / rel)
        manifest["files"][rel] = source_files[rel]   # the same bytes; verified below
    (export / "manifest.json").write_bytes((json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    verify_manifest(export)
    return export


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export", help="the exported folder that receives the banks")
    ap.add_argument("--from", dest="source", default="params/compact128",
                    help="the folder whose banks it keeps (default: params/compact128)")
    args = ap.parse_args(argv)
    from dsf.params import ParamsError

    try:
        print(f"{keep_banks(args.export, args.source)}: banks from {args.source}")
    except ParamsError as e:   # a missing folder or a manifest that does not verify
        raise SystemExit(f"keep_banks: {e}") from None


if __name__ == "__main__":
    sys.exit(main())
