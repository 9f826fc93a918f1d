#!/usr/bin/python3
"""Training tokens/s of the same Duo model in PyTorch (CPU or CUDA) and in duocl
(OpenCL), measured in one run, interleaved.

    /usr/bin/python3 bench/torch_vs_duocl.py [--duocl build/duocl] [--config configs/bench.json]
        [--rounds 3] [--steps 3] [--variants debian,skylakex] [--torch-device cpu] [--json OUT]

On a GPU machine, `--torch-device cuda` runs the PyTorch side on the GPU
(float32 with TF32 off, torch.cuda.synchronize() before and after each timed
step; attention by F.scaled_dot_product_attention, PyTorch's fused kernel,
unless --torch-attention reference), and duocl on its default device (or
--device, e.g. nvidia):

    python3 bench/torch_vs_duocl.py --torch-device cuda --device nvidia \
        --config configs/bench-gpu.json

The PyTorch side is the model of tests/parity/torch_duo.py (its RMSNorm, RoPE,
causal attention and SwiGLU functions) in float32, with the routes drawn by
duocl's counter-based generator (include/duocl/routes.h) for the same seed and
step, p_big 0.5, and each route's tokens compacted like duocl's FFN block:
index_select gathers a route's rows, index_copy puts h + FFN(rows) back. A step
is forward, mean cross-entropy, backward, clip_grad_norm_(1.0) and AdamW
(weight decay on matrices and the embedding), on random tokens, with
torch.set_num_threads(THREADS) (default 2, the cores here).

The duocl side is `duocl bench --only train --json -` (a fresh process each
round: the PoCL cache is warm, so start-up is not in the number; its steps
are timed after one warm-up step, like the PyTorch ones).

Each PyTorch variant runs in its own long-lived worker process, so that its
environment is its own:
  debian     PyTorch as Debian ships it (python3-torch with its recommended
             libopenblas0; OPENBLAS_CORETYPE and OMP_WAIT_POLICY removed)
  skylakex   OPENBLAS_CORETYPE=SkylakeX OMP_WAIT_POLICY=PASSIVE
  passive    OMP_WAIT_POLICY=PASSIVE alone (OpenBLAS picks its kernels itself)
  haswell    OPENBLAS_CORETYPE=Haswell OMP_WAIT_POLICY=PASSIVE
  reference  Debian's reference BLAS (libblas3) instead of OpenBLAS
  plain      the environment as it is (the default with --torch-device cuda,
             where the CPU BLAS does not matter)
Each worker reports which BLAS it loaded and, for OpenBLAS, the kernels it
chose (openblas_get_corename, read through ctypes; threadpoolctl is used too
when it is installed).

The machine's speed drifts (2x for seconds at a time), so the runs go
duocl, variant 1, variant 2, duocl, ... for --rounds rounds, and the ratio is
taken within each round; the summary is the median of the per-round ratios.
"""
import argparse
import ctypes
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

VARIANTS = {
    "debian": ({}, ("OPENBLAS_CORETYPE", "OMP_WAIT_POLICY"), None),
    "skylakex": ({"OPENBLAS_CORETYPE": "SkylakeX", "OMP_WAIT_POLICY": "PASSIVE"}, (), None),
    "passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, ("OPENBLAS_CORETYPE",), None),
    "haswell": ({"OPENBLAS_CORETYPE": "Haswell", "OMP_WAIT_POLICY": "PASSIVE"}, (), None),
    "reference": ({}, ("OPENBLAS_CORETYPE", "OMP_WAIT_POLICY"),
                  "/usr/lib/x86_64-linux-gnu/blas:/usr/lib/x86_64-linux-gnu/lapack"),
    "plain": ({}, (), None),
}

# ------------------------------------------------------------ routes (duocl's generator)

MASK = (1 << 64) - 1


def mix64(z):
    """splitmix64 finaliser on numpy uint64 arrays (wrapping arithmetic)."""
    import numpy as np
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
    return z ^ (z >> np.uint64(31))


def mix64_int(z):
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & MASK
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & MASK
    return z ^ (z >> 31)


def routes_for(seed, step, layers, n, p_big):
    """(layers, n) route ids, 1 small / 2 big, exactly as duo_route_pick with
    p_small = 1 - p_big and no skips."""
    import numpy as np
    h = mix64_int(mix64_int(seed ^ 0x6a09e667f3bcc909) ^ step)
    big_end = int(round(p_big * (1 << 24)))
    out = np.empty((layers, n), dtype=np.int64)
    tokens = np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for l in range(layers):
            u = mix64(np.uint64(h) ^ ((np.uint64(l) << np.uint64(32)) | tokens)) >> np.uint64(40)
            out[l] = np.where(u < big_end, 2, 1)
    return out


# ------------------------------------------------------------ the PyTorch worker


def load_reference_model():
    path = os.path.join(ROOT, "tests", "parity", "torch_duo.py")
    spec = importlib.util.spec_from_file_location("torch_duo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def blas_info():
    """Which BLAS this process loaded and, for OpenBLAS, its kernels."""
    libs = sorted({line.split()[-1] for line in open("/proc/self/maps")
                   if ("blas" in line or "lapack" in line) and line.split()[-1].startswith("/")})
    info = {"libraries": libs}
    for path in libs:
        if "openblas" in os.path.basename(path):
            lib = ctypes.CDLL(path)
            for name in ("openblas_get_corename", "openblas_get_config"):
                fn = getattr(lib, name)
                fn.restype = ctypes.c_char_p
                info[name[len("openblas_get_"):]] = fn().decode()
            info["threads"] = lib.openblas_get_num_threads()
    try:
        import threadpoolctl
        info["threadpoolctl"] = threadpoolctl.threadpool_info()
    except ImportError:
        info["threadpoolctl"] = "not installed (kernels read with ctypes instead)"
    return info


def causal_attention_on(device_attention):
    """torch_duo's causal_attention with the mask made on the tensors' device
    ("reference"), or PyTorch's fused scaled_dot_product_attention ("sdpa")."""
    import torch
    import torch.nn.functional as F

    def reference(q, k, v):
        B, T, H, hd = q.shape
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
        scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
        future = torch.triu(torch.ones(T, T, dtype=torch.bool, device=q.device), diagonal=1)
        probs = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        return (probs @ v).transpose(1, 2).reshape(B, T, H * hd)

    def sdpa(q, k, v):
        B, T, H, hd = q.shape
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return out.transpose(1, 2).reshape(B, T, H * hd)

    return sdpa if device_attention == "sdpa" else reference


def worker(config_path, threads, seed, device, attention):
    import numpy as np
    import torch
    import torch.nn.functional as F

    ref = load_reference_model()
    torch.set_num_threads(threads)
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    if cuda:
        if not torch.cuda.is_available():
            print(json.dumps({"error": "--torch-device %s: this PyTorch (%s) sees no CUDA device"
                              % (device, torch.__version__)}), flush=True)
            return 1
        # Plain float32 GEMMs, as duocl computes them.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        if hasattr(torch, "set_float32_matmul_precision"):
            torch.set_float32_matmul_precision("highest")
    if attention == "auto":
        attention = "sdpa" if cuda and hasattr(F, "scaled_dot_product_attention") else "reference"
    if attention == "sdpa" and not hasattr(F, "scaled_dot_product_attention"):
        print(json.dumps({"error": "--torch-attention sdpa: PyTorch %s has no "
                          "scaled_dot_product_attention" % torch.__version__}), flush=True)
        return 1
    if attention == "sdpa" or cuda:
        # torch_duo's own function (kept as it is on the CPU) makes its mask on the CPU.
        ref.causal_attention = causal_attention_on(attention)

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)
    with open(config_path) as f:
        config = json.load(f)
    cfg, train = config["model"], config.get("train", {})
    V, d, L, H = cfg["vocab"], cfg["d_model"], cfg["n_layers"], cfg["n_heads"]
    T, Fb = cfg["ctx"], cfg["ffn_big"]
    Fs = cfg.get("ffn_small", Fb // 16)
    B = train.get("batch", 16)
    eps = cfg.get("norm_eps", 1e-5)
    N = B * T
    g = torch.Generator().manual_seed(seed)

    def normal(*shape, scale=0.02):
        # Drawn on the CPU, so every device starts from the same weights.
        return (torch.randn(*shape, generator=g) * scale).to(dev).requires_grad_(True)

    out_scale = 0.02 / math.sqrt(2 * L)
    p = {"embed": normal(V, d)}
    for l in range(L):
        for name in ("wq", "wk", "wv"):
            p["layer.%d.%s" % (l, name)] = normal(d, d)
        p["layer.%d.wo" % l] = normal(d, d, scale=out_scale)
        for size, width in (("small", Fs), ("big", Fb)):
            p["layer.%d.w1_%s" % (l, size)] = normal(d, width)
            p["layer.%d.w3_%s" % (l, size)] = normal(d, width)
            p["layer.%d.w2_%s" % (l, size)] = normal(width, d, scale=out_scale)
        p["layer.%d.norm_att" % l] = torch.ones(d, device=dev, requires_grad=True)
        p["layer.%d.norm_ffn" % l] = torch.ones(d, device=dev, requires_grad=True)
    p["norm_out"] = torch.ones(d, device=dev, requires_grad=True)
    decay = [t for n, t in p.items() if "norm" not in n]
    no_decay = [t for n, t in p.items() if "norm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": train.get("weight_decay", 0.1)},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=train.get("lr", 2e-3),
                            betas=(train.get("beta1", 0.9), train.get("beta2", 0.95)),
                            eps=train.get("eps", 1e-8))
    cos, sin = (t.float().to(dev)
                for t in ref.rope_tables(T, d // H, cfg.get("rope_theta", 10000.0)))
    rng = np.random.default_rng(seed)
    tokens = torch.from_numpy(rng.integers(0, V, size=(B, T))).to(dev)
    targets = torch.from_numpy(rng.integers(0, V, size=(B * T,))).to(dev)
    cfg = dict(cfg, norm_eps=eps)

    def routed_ffn(h, l, route):
        """x = h + FFN_route(RMSNorm(h)) on (N, d) rows, compacted per route."""
        f = ref.rmsnorm(h, p["layer.%d.norm_ffn" % l], eps)
        x = h
        for r, size in ((1, "small"), (2, "big")):
            index = torch.nonzero(route == r).flatten()
            if index.numel() == 0:
                continue
            rows = f.index_select(0, index)
            w = [p["layer.%d.%s_%s" % (l, name, size)] for name in ("w1", "w3", "w2")]
            x = x.index_copy(0, index, h.index_select(0, index) + ref.swiglu_ffn(rows, *w))
        return x

    def step(k):
        routes = torch.from_numpy(routes_for(seed, k, L, N, 0.5)).to(dev)
        opt.zero_grad(set_to_none=True)
        x = p["embed"][tokens]
        for l in range(L):
            h = ref.attention_block(x, p, l, cfg, cos, sin)
            x = routed_ffn(h.reshape(N, d), l, routes[l]).view(B, T, d)
        logits = ref.rmsnorm(x, p["norm_out"], eps).reshape(N, d) @ p["embed"].T
        loss = F.cross_entropy(logits, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), train.get("grad_clip", 1.0))
        opt.step()
        return float(loss)

    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_info(),
            "tokens_per_step": N, "device": str(dev), "attention": attention}
    if cuda:
        info.update(gpu=torch.cuda.get_device_name(dev), cuda=torch.version.cuda,
                    tf32=torch.backends.cuda.matmul.allow_tf32)
    print(json.dumps({"ready": info}), flush=True)
    k = 0
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        steps, warmup = int(cmd[1]), int(cmd[2])
        for _ in range(warmup):
            step(k)
            k += 1
        times, losses = [], []
        for _ in range(steps):
            sync()
            t0 = time.perf_counter()
            losses.append(step(k))
            sync()
            times.append(time.perf_counter() - t0)
            k += 1
        print(json.dumps({"step_s": times, "loss": losses,
                          "tokens_per_s": N / statistics.median(times)}), flush=True)


# ------------------------------------------------------------ the driver


def start_worker(name, args):
    env_set, env_drop, lib_path = VARIANTS[name]
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    env.update(env_set)
    if lib_path:
        env["LD_LIBRARY_PATH"] = lib_path + (":" + env["LD_LIBRARY_PATH"]
                                             if env.get("LD_LIBRARY_PATH") else "")
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker",
                             "--config", args.config, "--threads", str(args.threads),
                             "--seed", str(args.seed), "--torch-device", args.torch_device,
                             "--torch-attention", args.torch_attention],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    line = proc.stdout.readline()
    if not line:
        sys.exit("torch_vs_duocl.py: the PyTorch worker [%s] exited (rc %s) before it was ready"
                 % (name, proc.wait()))
    message = json.loads(line)
    if "error" in message:
        sys.exit("torch_vs_duocl.py: " + message["error"])
    ready = message["ready"]
    shown = {k: env[k] for k in ("OPENBLAS_CORETYPE", "OMP_WAIT_POLICY", "LD_LIBRARY_PATH")
             if k in env}
    return proc, ready, shown


def run_torch(proc, steps, warmup):
    proc.stdin.write("run %d %d\n" % (steps, warmup))
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def run_duocl(args):
    cmd = [args.duocl, "bench", "--only", "train", "--config", args.config, "--repeat",
           str(args.steps), "--warmup", str(args.warmup), "--json", "-"]
    if args.device:
        cmd += ["--device", args.device]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.exit("torch_vs_duocl.py: %s failed:\n%s" % (" ".join(cmd), out.stderr))
    report = json.loads(out.stdout)
    case = [c for c in report["cases"] if c["section"] == "train"][0]
    return {"step_s": case["samples"], "tokens_per_s": case["rate"], "device": report["device"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duocl", default=os.path.join(ROOT, "build", "duocl"))
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "bench.json"))
    ap.add_argument("--device", default=None, help="duocl device selector")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps before them")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2)")
    ap.add_argument("--variants", default=None,
                    help="PyTorch variants: " + ", ".join(VARIANTS)
                    + " (default debian,skylakex; plain with --torch-device cuda)")
    ap.add_argument("--torch-device", default="cpu",
                    help="where PyTorch runs: cpu (default) or cuda (cuda:N)")
    ap.add_argument("--torch-attention", default="auto",
                    choices=("auto", "reference", "sdpa"),
                    help="PyTorch attention: the explicit T x T softmax of "
                    "tests/parity/torch_duo.py (reference) or scaled_dot_product_attention "
                    "(sdpa); auto: sdpa on CUDA, reference on the CPU")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.config, args.threads, args.seed, args.torch_device,
                      args.torch_attention)
    if args.torch_device != "cpu" and not args.torch_device.startswith("cuda"):
        sys.exit("torch_vs_duocl.py: --torch-device %r: need cpu or cuda (cuda:N)"
                 % args.torch_device)
    if args.variants is None:
        args.variants = "plain" if args.torch_device != "cpu" else "debian,skylakex"

    names = [v for v in args.variants.split(",") if v]
    for v in names:
        if v not in VARIANTS:
            sys.exit("torch_vs_duocl.py: unknown variant %r (known: %s)" % (v, ", ".join(VARIANTS)))
    if not os.access(args.duocl, os.X_OK):
        sys.exit("torch_vs_duocl.py: no duocl at %s (build it, or pass --duocl)" % args.duocl)
    workers = {}
    info = {}
    for v in names:
        proc, ready, env = start_worker(v, args)
        workers[v] = proc
        info[v] = dict(ready, env=env)
        blas = ready["blas"]
        print("torch[%s]: torch %s, %d threads, env %s\n    BLAS %s, kernels %s\n    threadpoolctl: %s"
              % (v, ready["torch"], ready["threads"], env or "{}", ", ".join(blas["libraries"]),
                 blas.get("corename", "(not OpenBLAS)"),
                 blas["threadpoolctl"] if isinstance(blas["threadpoolctl"], str) else "see --json"))
        if "gpu" in ready:
            print("    on %s (%s, CUDA %s), float32, TF32 %s, attention %s"
                  % (ready["device"], ready["gpu"], ready["cuda"], "on" if ready["tf32"] else "off",
                     ready["attention"]))
    results = {"duocl": []}
    results.update({v: [] for v in names})
    order = ["duocl"] + names
    print("\nround  " + "".join("%18s" % k for k in order) + "   (training tokens/s, median step)")
    ratios = {v: [] for v in names}
    for r in range(args.rounds):
        row = {}
        for k in order:
            m = run_duocl(args) if k == "duocl" else run_torch(workers[k], args.steps, args.warmup)
            results[k].append(m)
            row[k] = m["tokens_per_s"]
        for v in names:
            ratios[v].append(row["duocl"] / row[v])
        print("%5d  " % (r + 1) + "".join("%18.1f" % row[k] for k in order) + "   duocl/torch: "
              + ", ".join("%s %.2fx" % (v, ratios[v][-1]) for v in names), flush=True)
    for proc in workers.values():
        proc.stdin.write("quit\n")
        proc.stdin.close()
        proc.wait()
    print("\nmedian " + "".join("%18.1f" % statistics.median(m["tokens_per_s"] for m in results[k])
                                for k in order))
    for v in names:
        print("duocl / torch[%s]: %.2fx (per round: %s)"
              % (v, statistics.median(ratios[v]), ", ".join("%.2f" % x for x in ratios[v])))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results, "ratios": ratios, "info": info},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
