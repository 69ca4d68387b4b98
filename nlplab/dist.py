"""Multi-process training: the only module that knows about torch.distributed.

    nlplab finetune ... --nproc 2                        # this machine, 2 processes (GPUs, or CPU with gloo)
    torchrun --nproc_per_node 4 -m nlplab lm train ...   # the same, launched by hand
    # two nodes (run one line on each; HOST is node 0's address, reachable from node 1):
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --master_addr HOST --master_port 29500 -m nlplab finetune ...
    torchrun --nnodes 2 --node_rank 1 --nproc_per_node 8 --master_addr HOST --master_port 29500 -m nlplab finetune ...

In nanoGPT's spirit: torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) says whether this
is one process of many; without it, or with WORLD_SIZE 1, every helper here is a no-op and
training takes exactly its single-process path. NCCL on GPUs, gloo on CPU, and a bounded
timeout (NLPLAB_DIST_TIMEOUT seconds, default 300) so a rank waiting on a dead peer gives up.

Test hook: NLPLAB_TEST_CRASH_RANK=R makes rank R raise at optimizer step
NLPLAB_TEST_CRASH_STEP (default 2), to test that a failing rank brings the job down;
NLPLAB_TEST_EARLY_RANK=R ends rank R's time budget sooner (see deadline()).
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as td
from torch.nn.parallel import DistributedDataParallel as DDP

from nlplab import NlplabError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def info() -> Dist:
    """This process's place in the job, from torchrun's environment (one process without it)."""
    env = os.environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return Dist()
    return Dist(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)))


def under_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or "RANK" in os.environ


def timeout() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(os.environ.get("NLPLAB_DIST_TIMEOUT", 300)))


def active() -> bool:
    return td.is_available() and td.is_initialized() and td.get_world_size() > 1


def init() -> Dist:
    """Join the process group (idempotent; nothing to do for one process)."""
    d = info()
    if not d.enabled or td.is_initialized():
        return d
    if torch.cuda.is_available():  # NCCL for CUDA tensors, gloo for the CPU ones (objects, --device cpu)
        torch.cuda.set_device(d.local_rank % torch.cuda.device_count())
        backend = "cuda:nccl,cpu:gloo"
    else:
        backend = "gloo"
    td.init_process_group(backend, timeout=timeout())
    return d


@contextlib.contextmanager
def session():
    """init() ... destroy_process_group(), also when the body raises: the failing rank exits
    at once (torchrun then stops the others) instead of holding its peers in a collective."""
    owner = info().enabled and not (td.is_available() and td.is_initialized())
    d = init()
    try:
        yield d
        if owner and td.is_initialized():  # success: leave together, so no rank tears down gloo
            with contextlib.suppress(Exception):  # while a peer still writes files or talks to the store
                td.barrier()
    finally:
        if owner and td.is_initialized():
            with contextlib.suppress(Exception):
                td.destroy_process_group()


def device(d: Dist, want_cuda: bool = True) -> torch.device:
    """cuda:LOCAL_RANK for one GPU per process; plain cuda/cpu for a single process."""
    if not (want_cuda and torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device(f"cuda:{d.local_rank % torch.cuda.device_count()}") if d.enabled else torch.device("cuda")


def bf16_ok(dev: torch.device) -> bool:
    """bfloat16 autocast pays off here: a GPU that has bf16, or a CPU with bfloat16
    instructions (avx512_bf16 or AMX), on which oneDNN runs the matrix products in bf16."""
    if dev.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


NO_BF16 = "this CPU has no bfloat16 instructions (avx512_bf16 or AMX) and no GPU is visible"


def barrier() -> None:
    if active():
        td.barrier()


@contextlib.contextmanager
def main_first():
    """Rank 0 runs the body first (say, writes a cache), the others after it (and read it)."""
    d = info()
    if active() and not d.is_main:
        td.barrier()
    yield
    if active() and d.is_main:
        td.barrier()


def _reduce(t: torch.Tensor) -> torch.Tensor:
    if not active():
        return t
    x = t.detach().clone()
    td.all_reduce(x, op=td.ReduceOp.SUM)
    return x


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over ranks (a new tensor; `t` itself for one process)."""
    return _reduce(t)


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    return _reduce(t) / td.get_world_size() if active() else t


def any_rank(flag: bool) -> bool:
    """True on every rank when it is True on any (say, a time budget each rank reads on its
    own clock: all of them stop after the same step)."""
    if not active():
        return flag
    return _reduce(torch.tensor([float(flag)])).item() > 0


def all_gather_object(obj) -> list:
    """[obj of rank 0, obj of rank 1, ...] on every rank ([obj] for one process)."""
    if not active():
        return [obj]
    got = [None] * td.get_world_size()
    td.all_gather_object(got, obj)
    return got


def rank_seed(seed: int, d: Dist, step: int = 0) -> int:
    """A seed per rank (and resume point) for dropout: the same masks on every rank would
    correlate the examples they see. Model initialisation keeps the common seed."""
    return (seed * 1_000_003 + step) * 1009 + d.rank


def seed_rank(seed: int, d: Dist, step: int = 0) -> None:
    s = rank_seed(seed, d, step)
    random.seed(s)
    torch.manual_seed(s)
    np.random.seed(s % 2**32)


def wrap_ddp(model: torch.nn.Module, dev: torch.device, find_unused: bool = False):
    """DistributedDataParallel around `model` when there are several processes; `model` otherwise."""
    if not active():
        return model
    # buffers (BERT's position ids) never change: no broadcast before every forward
    return DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None, broadcast_buffers=False,
               find_unused_parameters=find_unused)


def unwrap(model):
    return model.module if isinstance(model, DDP) else model


def no_sync(model, skip: bool):
    """Gradient accumulation: no all-reduce on the micro-steps before the last one."""
    return model.no_sync() if skip and isinstance(model, DDP) else contextlib.nullcontext()


def crash_hook(d: Dist, step: int) -> None:
    """Test hook (see the module docstring): this rank fails on purpose mid-training."""
    rank = os.environ.get("NLPLAB_TEST_CRASH_RANK")
    if rank is not None and int(rank) == d.rank and step >= int(os.environ.get("NLPLAB_TEST_CRASH_STEP", 2)):
        raise RuntimeError(f"NLPLAB_TEST_CRASH_RANK: rank {d.rank} fails on purpose at step {step}")


def deadline(d: Dist, minutes: float) -> float:
    """time.perf_counter() at which a time budget ends on this rank (inf: none). Each rank reads
    its own clock; the training loop makes the ranks agree on the step to stop after. Test hook:
    NLPLAB_TEST_EARLY_RANK=R ends rank R's budget NLPLAB_TEST_EARLY_SECONDS (default 1) sooner."""
    if not minutes:
        return math.inf
    early = os.environ.get("NLPLAB_TEST_EARLY_RANK") == str(d.rank)
    return time.perf_counter() + 60 * minutes - (float(os.environ.get("NLPLAB_TEST_EARLY_SECONDS", 1)) if early else 0.0)


# ---- launching: `--nproc N` re-runs the command under torchrun

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def strip_flag(argv: list[str], flag: str) -> list[str]:
    """argv without `flag N` / `flag=N`."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == flag:
            skip = True
        elif not a.startswith(flag + "="):
            out.append(a)
    return out


def launch(nproc: int, argv: list[str] | None = None) -> int:
    """Run `nlplab ARGV` (without --nproc) as `nproc` processes under torchrun on this machine
    and return its exit code. MASTER_PORT picks the port (default: a free one)."""
    if nproc < 1:
        raise NlplabError(f"--nproc must be at least 1, got {nproc}")
    argv = strip_flag(list(sys.argv[1:] if argv is None else argv), "--nproc")
    given = os.environ.get("MASTER_PORT")
    port = int(given) if given else free_port()
    if given and port_in_use(port):
        raise NlplabError(f"MASTER_PORT {port} is already in use on this machine; pick another port or unset "
                          "MASTER_PORT (a free one is chosen)")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(nproc),
           "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "nlplab", *argv]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return subprocess.run(cmd, env=env).returncode
