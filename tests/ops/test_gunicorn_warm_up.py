"""gunicorn.conf.py loads the keywords tool's data in the master before forking: workers share it, not load it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# gunicorn runs its config file as a script in the master process and calls when_ready before forking the workers.
MASTER = """
import gc, runpy, sys
config = runpy.run_path("gunicorn.conf.py")
assert "rjieba" not in sys.modules
config["when_ready"](None)
from apiresources import languages, tools
assert "rjieba" in sys.modules
assert languages._detector_factory.cache_info().currsize == 1
assert languages._japanese_segmenter.cache_info().currsize == 1
assert languages.stop_words_for.cache_info().currsize == len(languages.LANGUAGES)
assert tools._word_pattern.cache_info().currsize == 1
assert gc.get_freeze_count() > 0
print("ok")
"""


def test_the_master_loads_the_keywords_data_before_forking_the_workers(tmp_path):
    # A metrics directory of its own, or the config would make one in /dev/shm and leave it behind.
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    command = [sys.executable, "-c", MASTER]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
