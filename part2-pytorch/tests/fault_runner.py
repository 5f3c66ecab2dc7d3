"""main.py with a signal at a chosen file write, so that fault-injection tests repeat exactly.

    python tests/fault_runner.py NAME COUNT STAGE SIGNAL [main.py arguments ...]

At the COUNT-th rename onto a file or folder called NAME (every file main.py writes is renamed into place),
STAGE before-rename sends SIGNAL (KILL, INT or TERM) while the new content sits complete in its temporary file and
the old file is still in place; after-rename sends it just after the new file took the old one's place.
NAME "--seconds" sends SIGNAL COUNT seconds after the start instead (STAGE is ignored).
"""
import os
import runpy
import signal
import sys
import threading

PART2 = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    name, count, stage, signal_name, *arguments = sys.argv[1:]
    replace, seen = os.replace, []

    def faulty_replace(source, target, *args, **kwargs):
        hit = os.path.basename(os.path.normpath(target)) == name and len(seen) + 1 == int(count)
        if os.path.basename(os.path.normpath(target)) == name:
            seen.append(target)
        if hit and stage == "before-rename":
            os.kill(os.getpid(), getattr(signal, "SIG" + signal_name))
        replace(source, target, *args, **kwargs)
        if hit and stage == "after-rename":
            os.kill(os.getpid(), getattr(signal, "SIG" + signal_name))

    if name == "--seconds":
        threading.Timer(float(count), os.kill, (os.getpid(), getattr(signal, "SIG" + signal_name))).start()
    else:
        os.replace = faulty_replace
    sys.path.insert(0, PART2)
    sys.argv = [os.path.join(PART2, "main.py"), *arguments]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
