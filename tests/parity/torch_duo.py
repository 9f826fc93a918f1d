#!/usr/bin/python3
"""PyTorch reference of the Duo model, compared tensor by tensor with duocl.

    /usr/bin/python3 tests/parity/torch_duo.py FIXTURE.ckpt DUOCL_OUT.ckpt [--tol 1e-4]

FIXTURE.ckpt holds the config, the parameters and one batch (tokens, targets,
routes); DUOCL_OUT.ckpt is what `parity_dump FIXTURE.ckpt DUOCL_OUT.ckpt`
wrote after running the same batch on the OpenCL device: logits, per-token
and mean loss, every gradient, and the parameters after S training steps
(with per-step loss, gradient norm, clip factor and learning rate).

This script runs the same model written plainly in PyTorch, in float64 (so
the reference's own rounding is negligible and what is measured is duocl's
float32 error): autograd for the gradients, torch.nn.utils.clip_grad_norm_
and torch.optim.AdamW for the steps. For every tensor it prints

    rel = max|duocl - torch| / max(max|torch|, 1e-30)

and fails (exit 1) if any rel is above the tolerance (1e-4). Exit 2: bad
input (missing file, malformed checkpoint).

The fixture is regenerated (only needed if the model layout or the fixture's
config changes) with
    build/tests/parity_dump --make-fixture tests/parity/fixture/config.json \\
        tests/parity/fixture/fixture.ckpt --seed 1234 --batch 2 --tokens 16
See tests/parity/README.md.

Conventions mirrored from duocl (DESIGN.md section 1, host/model.h):
weights (in, out) so a linear layer is x @ W; tied embedding; RMSNorm
x * rsqrt(mean(x^2) + eps) * g; RoPE on interleaved pairs (x[2i], x[2i+1])
rotated by t * theta^(-2i/hd), cos/sin computed in double and rounded to
float32 (as duocl's table); causal attention with scale 1/sqrt(hd); SwiGLU
(silu(f W1) * (f W3)) W2; routes 0 skip / 1 small / 2 big per token and layer;
mean cross-entropy over targets >= 0; AdamW with weight decay on the matrices
and the embedding only; lr from the schedule of include/duocl/schedule.h with
steps counted from 0.
"""
import argparse
import json
import math
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - the runner checks this first
    sys.exit("torch_duo.py: PyTorch is missing (%s): install Debian's python3-torch "
             "(scripts/setup.sh does)" % e)

SKIP, SMALL, BIG = 0, 1, 2
REF = torch.float64


# ---------------------------------------------------------------- checkpoints

DTYPES = {1: np.float32, 2: np.uint8, 3: np.int32, 4: np.uint64}


class FormatError(Exception):
    pass


def fnv1a64(data):
    """FNV-1a 64 of a bytes object (a plain loop: well under a second for the
    few hundred KB of these files)."""
    h = 0xcbf29ce484222325
    prime = 0x100000001b3
    mask = 0xffffffffffffffff
    for byte in data:
        h = ((h ^ byte) * prime) & mask
    return h


def read_checkpoint(path):
    """Returns (config dict, {name: numpy array}) of a duocl checkpoint
    (format of include/duocl/checkpoint.h), checking the trailer and checksum."""
    with open(path, "rb") as f:
        data = f.read()

    def fail(msg):
        raise FormatError("%s: %s" % (path, msg))

    if len(data) < 16 + 32 or data[:8] != b"DUOCLCKP":
        fail("not a duocl checkpoint")
    version, _flags = struct.unpack_from("<II", data, 8)
    if version != 1:
        fail("version %d, expected 1" % version)
    end = len(data) - 32
    marker, count, size, checksum = struct.unpack_from("<8sQQQ", data, end)
    if marker != b"DUOCLEND" or size != len(data):
        fail("cut short (no end marker or wrong size)")
    if fnv1a64(data[:len(data) - 8]) != checksum:
        fail("checksum mismatch")

    def pad(pos):
        return (pos + 7) // 8 * 8

    (length,) = struct.unpack_from("<Q", data, 16)
    config = json.loads(data[24:24 + length].decode("utf-8"))
    pos = pad(24 + length)
    tensors = {}
    while pos < end:
        magic, dtype, ndim, name_len = struct.unpack_from("<4sBBH", data, pos)
        if magic != b"TNSR" or dtype not in DTYPES:
            fail("bad tensor record at byte %d" % pos)
        pos += 8
        name = data[pos:pos + name_len].decode("utf-8")
        pos = pad(pos + name_len)
        shape = struct.unpack_from("<%dQ" % ndim, data, pos)
        pos += 8 * ndim
        (nbytes,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        array = np.frombuffer(data[pos:pos + nbytes], dtype=DTYPES[dtype]).reshape(shape)
        tensors[name] = array.copy()
        pos = pad(pos + nbytes)
    if len(tensors) != count:
        fail("%d tensors, trailer says %d" % (len(tensors), count))
    return config, tensors


# ---------------------------------------------------------------- the model

def rmsnorm(x, gain, eps):
    """x * rsqrt(mean(x^2) + eps) * gain over the last dimension."""
    return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + eps) * gain


def rope_tables(T, head_dim, theta):
    """cos, sin of t * theta^(-2i/hd), shape (T, hd/2): computed in double and
    rounded once to float32, exactly as duocl's host table."""
    cos = np.empty((T, head_dim // 2), dtype=np.float32)
    sin = np.empty_like(cos)
    for i in range(head_dim // 2):
        inv_freq = theta ** (-2.0 * i / head_dim)
        for t in range(T):
            cos[t, i] = math.cos(t * inv_freq)
            sin[t, i] = math.sin(t * inv_freq)
    return torch.from_numpy(cos).to(REF), torch.from_numpy(sin).to(REF)


def rope(x, cos, sin):
    """x (B, T, H, hd): rotates each pair (x[2i], x[2i+1]) by its angle."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)


def causal_attention(q, k, v):
    """q, k, v (B, T, H, hd) -> (B, T, H*hd); softmax(q k^T / sqrt(hd)), causal."""
    B, T, H, hd = q.shape
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    probs = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    return (probs @ v).transpose(1, 2).reshape(B, T, H * hd)


def swiglu_ffn(f, w1, w3, w2):
    """(silu(f W1) * (f W3)) W2."""
    return (F.silu(f @ w1) * (f @ w3)) @ w2


def attention_block(x, p, l, cfg, cos, sin):
    """h = x + Attention(RoPE(a Wq), RoPE(a Wk), a Wv) Wo with a = RMSNorm(x)."""
    B, T, d = x.shape
    H = cfg["n_heads"]
    a = rmsnorm(x, p["layer.%d.norm_att" % l], cfg["norm_eps"])
    q = rope((a @ p["layer.%d.wq" % l]).view(B, T, H, d // H), cos, sin)
    k = rope((a @ p["layer.%d.wk" % l]).view(B, T, H, d // H), cos, sin)
    v = (a @ p["layer.%d.wv" % l]).view(B, T, H, d // H)
    return x + causal_attention(q, k, v) @ p["layer.%d.wo" % l]


def routed_ffn_block(h, p, l, cfg, route):
    """x = h + FFN_route(RMSNorm(h)) per token; route (B, T); SKIP adds nothing."""
    f = rmsnorm(h, p["layer.%d.norm_ffn" % l], cfg["norm_eps"])
    out = torch.zeros_like(h)
    for r, size in ((SMALL, "small"), (BIG, "big")):
        chosen = route == r
        w = [p["layer.%d.%s_%s" % (l, name, size)] for name in ("w1", "w3", "w2")]
        out = out.index_put((chosen,), swiglu_ffn(f[chosen], *w))
    return h + out


def logits_and_losses(x, p, cfg, targets):
    """The tied output layer on x (B, T, d): logits (B*T, V), per-token losses
    (B, T) (0 where masked) and their mean over targets >= 0."""
    B, T, _ = x.shape
    logits = (rmsnorm(x, p["norm_out"], cfg["norm_eps"]) @ p["embed"].T).reshape(B * T, -1)
    flat_targets = targets.reshape(-1)
    losses = F.cross_entropy(logits, flat_targets.clamp(min=0), reduction="none")
    valid = flat_targets >= 0
    losses = torch.where(valid, losses, torch.zeros_like(losses))
    return logits, losses.view(B, T), losses.sum() / valid.sum()


def forward(p, cfg, tokens, targets, routes):
    """Logits (B*T, V), per-token losses (B, T) (0 where masked), mean loss."""
    B, T = tokens.shape
    cos, sin = rope_tables(T, cfg["d_model"] // cfg["n_heads"], cfg["rope_theta"])
    x = p["embed"][tokens]
    for l in range(cfg["n_layers"]):
        h = attention_block(x, p, l, cfg, cos, sin)
        x = routed_ffn_block(h, p, l, cfg, routes[l])
    return logits_and_losses(x, p, cfg, targets)


# ---------------------------------------------------------------- training

def lr_at(train, step):
    """include/duocl/schedule.h: linear warm-up, then constant or cosine."""
    lr, W, S = train["lr"], train["warmup"], train["steps"]
    if step < W:
        return lr * (step + 1) / W
    if train["schedule"] == "constant":
        return lr
    span = S - 1 - W
    if span <= 0:
        progress = 0.0 if step == W else 1.0
    else:
        progress = min(max((step - W) / span, 0.0), 1.0)
    return train["min_lr"] + (lr - train["min_lr"]) * (1 + math.cos(math.pi * progress)) / 2


def train_steps(params, cfg, train, tokens, targets, routes, steps):
    """S steps of clip_grad_norm_ + AdamW on the same batch; returns the
    per-step (loss, grad norm, clip factor, lr)."""
    decay = [t for name, t in params.items() if not name.endswith(("norm_att", "norm_ffn", "norm_out"))]
    no_decay = [t for name, t in params.items() if name.endswith(("norm_att", "norm_ffn", "norm_out"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": train["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=train["lr"], betas=(train["beta1"], train["beta2"]), eps=train["eps"])
    stats = []
    for step in range(steps):
        opt.zero_grad(set_to_none=False)
        _, _, loss = forward(params, cfg, tokens, targets, routes)
        loss.backward()
        for t in params.values():  # duocl updates every tensor, even with a zero gradient
            if t.grad is None:
                t.grad = torch.zeros_like(t)
        if train["grad_clip"] > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(list(params.values()), train["grad_clip"]))
            clip = min(1.0, train["grad_clip"] / (norm + 1e-6))
        else:
            norm = float(torch.linalg.vector_norm(torch.stack([t.grad.norm() for t in params.values()])))
            clip = 1.0
        lr = lr_at(train, step)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        stats.append((float(loss), norm, clip, lr))
    return stats


# ---------------------------------------------------------------- comparison

class Report:
    def __init__(self, tol):
        self.tol = tol
        self.failed = []
        self.count = 0
        self.worst = (0.0, "")

    def compare(self, name, got, want):
        got = np.asarray(got, dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        if got.shape != want.shape:
            print("FAIL  shape %s vs %s  %s" % (got.shape, want.shape, name))
            self.failed.append(name)
            return
        scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-30)
        diff = float(np.max(np.abs(got - want))) if want.size else 0.0
        rel = diff / scale if np.all(np.isfinite(got)) else math.inf
        ok = rel <= self.tol
        self.count += 1
        if rel >= self.worst[0]:
            self.worst = (rel, name)
        if not ok:
            self.failed.append(name)
        where = ""
        if not ok and want.ndim > 0:  # the worst element, to tell one bad spot from a bad tensor
            at = np.unravel_index(np.argmax(np.abs(got - want)), want.shape)
            where = "  worst at %s: duocl %.6e, torch %.6e" % (list(map(int, at)), got[at], want[at])
        print("%s  %.3e  (max|diff| %.3e, max|torch| %.3e)  %s%s"
              % ("ok  " if ok else "FAIL", rel, diff, scale, name, where))

    def finish(self):
        """Prints the closing line; returns the exit code (1 if any tensor failed)."""
        print("%d tensors compared, worst %.3e (%s), tolerance %.0e: %s"
              % (self.count, self.worst[0], self.worst[1], self.tol,
                 "PASS" if not self.failed else "FAIL (%d: %s)"
                 % (len(self.failed), ", ".join(self.failed))))
        return 1 if self.failed else 0


def read_inputs(program, fixture_path, dump_path):
    """(config, fixture tensors, dump tensors) of a fixture and the dump made
    from it, or None after saying on stderr why not (bad input: exit 2)."""
    try:
        config, fixture = read_checkpoint(fixture_path)
        dump_config, dump = read_checkpoint(dump_path)
    except (OSError, FormatError, ValueError) as e:
        print("%s: %s" % (program, e), file=sys.stderr)
        return None
    if dump_config != config:
        print("%s: %s was not made from %s (configs differ)" % (program, dump_path, fixture_path),
              file=sys.stderr)
        return None
    return config, fixture, dump


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Regenerate the fixture: build/tests/parity_dump --make-fixture "
                                        "tests/parity/fixture/config.json tests/parity/fixture/fixture.ckpt "
                                        "--seed 1234 --batch 2 --tokens 16")
    ap.add_argument("fixture", help="fixture checkpoint (config, param.*, batch.*)")
    ap.add_argument("duocl", help="parity_dump's output for that fixture")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest relative error (default 1e-4)")
    args = ap.parse_args()
    inputs = read_inputs("torch_duo.py", args.fixture, args.duocl)
    if inputs is None:
        return 2
    config, fixture, duocl = inputs
    cfg, train = config["model"], config["train"]
    torch.set_num_threads(1)
    names = [n[len("param."):] for n in fixture if n.startswith("param.")]
    tokens = torch.from_numpy(fixture["batch.tokens"].astype(np.int64))
    targets = torch.from_numpy(fixture["batch.targets"].astype(np.int64))
    routes = torch.from_numpy(fixture["batch.routes"].astype(np.int64))
    print("model: V %d, d %d, L %d, H %d, F %d/%d; batch %d x %d, %d masked targets; "
          "routes skip/small/big %s; reference in float64"
          % (cfg["vocab"], cfg["d_model"], cfg["n_layers"], cfg["n_heads"], cfg["ffn_big"],
             cfg["ffn_small"], tokens.shape[0], tokens.shape[1], int((targets < 0).sum()),
             "/".join(str(int((routes == r).sum())) for r in (SKIP, SMALL, BIG))))

    def fresh_params():
        # (1, d) norm gains become vectors; every tensor a float64 leaf.
        return {n: torch.tensor(fixture["param." + n], dtype=REF).squeeze(0).requires_grad_(True)
                if fixture["param." + n].shape[0] == 1 else
                torch.tensor(fixture["param." + n], dtype=REF).requires_grad_(True)
                for n in names}

    report = Report(args.tol)
    params = fresh_params()
    logits, losses, mean = forward(params, cfg, tokens, targets, routes)
    mean.backward()
    report.compare("forward.logits", duocl["forward.logits"], logits.detach().numpy())
    report.compare("forward.losses", duocl["forward.losses"], losses.detach().numpy())
    report.compare("forward.loss", duocl["forward.loss"], mean.detach().numpy())
    for n in names:
        grad = params[n].grad if params[n].grad is not None else torch.zeros_like(params[n])
        report.compare("grad." + n, duocl["grad." + n].reshape(grad.shape), grad.numpy())

    steps = duocl["steps"].shape[0] if "steps" in duocl else 0
    params = fresh_params()
    stats = np.array(train_steps(params, cfg, train, tokens, targets, routes, steps))
    for s in range(steps):
        print("step %d: torch loss %.6f, grad norm %.6f, clip factor %.6f, lr %.6g"
              % (s, *stats[s]))
    labels = ("loss", "grad_norm", "clip_factor", "lr")
    for s in range(steps):
        for j, label in enumerate(labels):
            report.compare("step.%d.%s" % (s, label), duocl["steps"][s, j], stats[s, j])
    for n in names:
        want = params[n].detach().numpy()
        report.compare("param.%s (after %d steps)" % (n, steps),
                       duocl["param." + n].reshape(want.shape), want)

    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
