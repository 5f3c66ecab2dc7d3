#!/usr/bin/env bash
# Zip what part 1 is graded on into assignment_2_part1_submission.zip (run from part1-convnet/).
cd "$(dirname "$0")" || exit 1
PY=python3; command -v "$PY" >/dev/null 2>&1 || PY=python
exec "$PY" - <<'PYEOF'
import os, zipfile
paths = ["modules", "optimizer", "trainer.py", "train.py"]
with zipfile.ZipFile("assignment_2_part1_submission.zip", "w", zipfile.ZIP_DEFLATED) as zf:
    for path in paths:
        for root, dirs, files in os.walk(path) if os.path.isdir(path) else [("", [], [path])]:
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                zf.write(os.path.join(root, name))
print("wrote assignment_2_part1_submission.zip")
PYEOF
