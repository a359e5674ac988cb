"""The kit as an installed package (`pip install -e .`, which requirements.txt names): `import
dsf` works from any folder and finds this clone, and the `dsf` command is `python -m dsf`."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_dsf_from_another_folder_finds_this_clone(tmp_path):
    res = subprocess.run([sys.executable, "-c", "import dsf; print(dsf.__file__)"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, f"dsf is not installed: pip install -e . ({res.stderr[-500:]})"
    assert Path(res.stdout.strip()) == ROOT / "dsf" / "__init__.py"


def test_the_dsf_command_is_the_kits_command_line(tmp_path):
    command = Path(sys.executable).parent / "dsf"
    assert command.is_file(), "no `dsf` command beside the interpreter: pip install -e ."
    usage = subprocess.run([command], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "generate" in usage.stderr
    help_ = subprocess.run([command, "generate", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert help_.returncode == 0 and "--refine" in help_.stdout
