import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run without `pip install -e training`

REPO = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO / "Tests" / "Fixtures"


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)   # deterministic and quick on small CPUs
