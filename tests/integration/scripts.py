"""Step scripts used by the integration tests, written to disk by the tests as real files."""

READ_WRITE_PARQUET = '''
from pathlib import Path
import pandas as pd

def main(input_paths, output_paths, environ_vars, job_args):
    out = Path(output_paths["out"])
    out.mkdir(parents=True, exist_ok=True)
    if "IN" in input_paths:
        frame = pd.read_parquet(input_paths["IN"])
        frame["x"] = frame["x"] + 1
    else:
        frame = pd.DataFrame({"id": range(100), "x": range(100)})
    frame.to_parquet(out / "data.parquet", index=False)
    print("rows", len(frame))
'''

JOIN_CSV = '''
from pathlib import Path
import pandas as pd

def main(input_paths, output_paths, environ_vars, job_args):
    left = pd.read_parquet(input_paths["LEFT"])
    right = pd.read_parquet(input_paths["RIGHT"])
    joined = left.merge(right, on="id", suffixes=("_l", "_r"))
    out = Path(output_paths["out"])
    out.mkdir(parents=True, exist_ok=True)
    joined.to_csv(out / "joined.csv", index=False)
'''

READS_ENVIRON = '''
import os
from pathlib import Path

def main(input_paths, output_paths, environ_vars, job_args):
    assert os.environ["LABEL_FIELD"] == environ_vars["LABEL_FIELD"] == "label", os.environ.get("LABEL_FIELD")
    out = Path(output_paths["out"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "env.txt").write_text(os.environ["LABEL_FIELD"] + " " + job_args.job_type)
'''

CLI_PROGRAM = '''
import argparse, os
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--job_type")
args = parser.parse_args()
out = Path(os.environ["PIPETEST_OUTPUT_OUT"])
out.mkdir(parents=True, exist_ok=True)
(out / "cli.txt").write_text(args.job_type + " " + os.environ["GREETING"])
'''

MULTIPROCESSING_POOL = '''
import multiprocessing
from pathlib import Path

def square(x):
    return x * x

def main(input_paths, output_paths, environ_vars, job_args):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        total = sum(pool.map(square, range(10)))
    out = Path(output_paths["out"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "total.txt").write_text(str(total))
'''

EXIT_3 = '''
import sys

def main(input_paths, output_paths, environ_vars, job_args):
    print("giving up", file=sys.stderr)
    sys.exit(3)
'''

SEGFAULT = '''
import ctypes

def main(input_paths, output_paths, environ_vars, job_args):
    ctypes.string_at(0)
'''

HANG_WITH_GRANDCHILD = '''
import subprocess, sys, time
from pathlib import Path

def main(input_paths, output_paths, environ_vars, job_args):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    Path(environ_vars["PID_FILE"]).write_text(str(child.pid))
    time.sleep(600)
'''

LOUD = '''
import sys

def main(input_paths, output_paths, environ_vars, job_args):
    line = "x" * 1023 + "\\n"
    for _ in range(50 * 1024):
        sys.stdout.write(line)
    print("the end")
'''

RAISES = '''
def helper(value):
    raise ValueError(f"bad value {value}")

def main(input_paths, output_paths, environ_vars, job_args):
    helper(42)
'''

SLEEP = '''
import time
from pathlib import Path

def main(input_paths, output_paths, environ_vars, job_args):
    time.sleep(float(environ_vars.get("SECONDS", "1")))
    out = Path(output_paths["out"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "done.txt").write_text("done")
'''
