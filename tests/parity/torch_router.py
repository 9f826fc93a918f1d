#!/usr/bin/python3
"""PyTorch reference of duocl's learned routers (stage 3), compared tensor by tensor.

    /usr/bin/python3 tests/parity/torch_router.py FIXTURE.ckpt DUOCL_OUT.ckpt [--tol 1e-4]

FIXTURE.ckpt is the training parity test's fixture (config, parameters, one
batch; its routes are not used). DUOCL_OUT.ckpt is what
`router_parity_dump FIXTURE.ckpt DUOCL_OUT.ckpt` wrote for the router
alphabets SB and KSB (prefixes "sb." and "ksb."; see tests/router_parity_dump.c):
the starting router weights and settings, the soft forward's logits, per-token
losses, mean CE, router probabilities, budget penalty and its gradient on
P_big, the router gradient of the CE alone and of CE + penalty, and S router
training steps (duo_router_train_step) with their loss, penalty, big fraction,
gradient norm and gradient, and the weights after them.

The same thing in PyTorch, float64, with the model pieces of torch_duo.py:
the backbone frozen (plain tensors), the router weights Wr (L, d, M) the only
leaf requiring grad; per layer
    f = RMSNorm(h), P = softmax(beta f Wr[l]), x' = h + sum_m P_m FFN_m(f)
(columns in route id order: SB small, big; KSB skip, small, big; skip adds
nothing), loss = mean CE over unmasked targets + alpha/B sum_b (u_b - k/L)^2
with u_b the mean of P_big over the layers and all T positions of sequence b
(masked targets included). Steps as host/router.c does them: gradient norm,
clip_grad_norm_ at 1.0, then torch.optim.AdamW (betas 0.9, 0.95, eps 1e-8,
weight decay 0) with the step's lr; beta and lr per step from the dump.

For every tensor it prints rel = max|duocl - torch| / max(max|torch|, 1e-30)
and fails (exit 1) if any is above the tolerance (1e-4). Exit 2: bad input.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_duo as td  # noqa: E402  (the reader, the model pieces, the report)
from torch_duo import np, torch, REF, SKIP, SMALL, BIG  # noqa: E402

MAX_NORM = 1.0  # host/router.c: duo_clip_factor(grad_norm, 1.0f)
BETAS, EPS = (0.9, 0.95), 1e-8


def soft_forward(p, cfg, tokens, targets, Wr, beta, modules):
    """Logits (N, V), losses (B, T), mean CE, router probabilities (L, N, M)."""
    B, T = tokens.shape
    cos, sin = td.rope_tables(T, cfg["d_model"] // cfg["n_heads"], cfg["rope_theta"])
    x = p["embed"][tokens]
    probs = []
    for l in range(cfg["n_layers"]):
        h = td.attention_block(x, p, l, cfg, cos, sin)
        f = td.rmsnorm(h, p["layer.%d.norm_ffn" % l], cfg["norm_eps"])
        P = torch.softmax(beta * (f @ Wr[l]), dim=-1)  # (B, T, M)
        x = h
        for c, module in enumerate(modules):
            if module == SKIP:
                continue
            size = "small" if module == SMALL else "big"
            w = [p["layer.%d.%s_%s" % (l, name, size)] for name in ("w1", "w3", "w2")]
            x = x + P[..., c:c + 1] * td.swiglu_ffn(f, *w)
        probs.append(P.reshape(B * T, -1))
    logits, losses, ce = td.logits_and_losses(x, p, cfg, targets)
    return logits, losses, ce, torch.stack(probs)


def budget_penalty(probs, B, T, budget, alpha):
    """alpha * mean_b (u_b - k/L)^2, u_b = mean of P_big over layers and positions of b."""
    L = probs.shape[0]
    u = probs[:, :, -1].reshape(L, B, T).mean(dim=(0, 2))  # BIG is the last column
    return alpha * ((u - budget / L) ** 2).mean()


def check_alphabet(report, prefix, cfg, p, tokens, targets, dump):
    def get(name):
        return dump["%s.%s" % (prefix, name)]

    w0 = get("weight0").astype(np.float64)
    L, d, M = w0.shape
    modules = (SMALL, BIG) if M == 2 else (SKIP, SMALL, BIG)
    budget, alpha, scale, _ = (float(v) for v in get("settings"))
    budget = int(budget)
    B, T = tokens.shape
    hparams = get("step_hparams") if "%s.step_hparams" % prefix in dump else np.zeros((0, 2))
    beta = float(hparams[0, 0]) if len(hparams) else 2.5

    def loss_terms(Wr, beta):
        logits, losses, ce, probs = soft_forward(p, cfg, tokens, targets, Wr, beta, modules)
        return logits, losses, ce, probs, budget_penalty(probs, B, T, budget, alpha)

    Wr = torch.tensor(w0, dtype=REF, requires_grad=True)
    logits, losses, ce, probs, penalty = loss_terms(Wr, beta)
    (g_probs,) = torch.autograd.grad(penalty, probs, retain_graph=True)
    (g_ce,) = torch.autograd.grad(ce, Wr, retain_graph=True)
    (g_all,) = torch.autograd.grad(ce + penalty, Wr)
    P = probs.detach()
    print("%s: M %d (%s), beta %g, budget %d of %d, alpha %g, weights normal(0, %g); P in "
          "[%.3g, %.3g], mean largest P %.3f, mean P_big %.3f; |grad_ce| %.3g, |grad| %.3g"
          % (prefix, M, "/".join(("skip", "small", "big")[m] for m in modules), beta, budget, L,
             alpha, scale, float(P.min()), float(P.max()), float(P.max(dim=-1).values.mean()),
             float(P[:, :, -1].mean()), float(g_ce.norm()), float(g_all.norm())))
    aux = g_probs[:, :, -1].reshape(L, B, T).mean(dim=(0, 2))  # the same for every l, t of b

    report.compare(prefix + ".forward.logits", get("forward.logits"), logits.detach().numpy())
    report.compare(prefix + ".forward.losses", get("forward.losses"), losses.detach().numpy())
    report.compare(prefix + ".forward.ce", get("forward.ce"), ce.detach().numpy())
    report.compare(prefix + ".forward.probs", get("forward.probs"), P.numpy())
    report.compare(prefix + ".forward.penalty", get("forward.penalty"), penalty.detach().numpy())
    report.compare(prefix + ".forward.aux (dpenalty/dP_big)", get("forward.aux"), aux.numpy())
    report.compare(prefix + ".grad_ce", get("grad_ce"), g_ce.numpy())
    report.compare(prefix + ".grad", get("grad"), g_all.numpy())

    # Training steps: fresh weights from weight0, as duocl's steps started from them.
    Wr = torch.tensor(w0, dtype=REF, requires_grad=True)
    opt = torch.optim.AdamW([Wr], lr=float(hparams[0, 1]) if len(hparams) else 0.0, betas=BETAS,
                            eps=EPS, weight_decay=0.0)
    for s in range(len(hparams)):
        beta, lr = float(hparams[s, 0]), float(hparams[s, 1])
        opt.zero_grad(set_to_none=False)
        _, _, ce, probs, penalty = loss_terms(Wr, beta)
        (ce + penalty).backward()
        grad = Wr.grad.detach().clone()
        norm = float(torch.nn.utils.clip_grad_norm_([Wr], MAX_NORM))
        clip = min(1.0, MAX_NORM / (norm + 1e-6))
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        big = float(probs.detach()[:, :, -1].mean())
        print("%s step %d: beta %g, lr %g; torch ce %.6f, penalty %.6f, big fraction %.6f, "
              "grad norm %.6f, clip factor %.6f" % (prefix, s, beta, lr, float(ce), float(penalty),
                                                   big, norm, clip))
        want = (float(ce), float(penalty), big, norm)
        for j, label in enumerate(("ce", "penalty", "big_fraction", "grad_norm")):
            report.compare("%s.step.%d.%s" % (prefix, s, label), get("steps")[s, j], want[j])
        report.compare("%s.step.%d.grad" % (prefix, s), get("step_grads")[s].reshape(L, d, M),
                       grad.numpy())
    report.compare("%s.weight (after %d steps)" % (prefix, len(hparams)), get("weight"),
                   Wr.detach().numpy())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fixture", help="fixture checkpoint (config, param.*, batch.*)")
    ap.add_argument("duocl", help="router_parity_dump's output for that fixture")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest relative error (default 1e-4)")
    args = ap.parse_args()
    inputs = td.read_inputs("torch_router.py", args.fixture, args.duocl)
    if inputs is None:
        return 2
    config, fixture, dump = inputs
    prefixes = [a for a in ("sb", "ksb") if "%s.weight0" % a in dump]
    if not prefixes:
        print("torch_router.py: %s holds no router dump (no sb.weight0 or ksb.weight0)" % args.duocl,
              file=sys.stderr)
        return 2
    cfg = config["model"]
    torch.set_num_threads(1)
    # The frozen backbone: float64 tensors that need no gradient; (1, d) gains as vectors.
    p = {n[len("param."):]: torch.tensor(a, dtype=REF).squeeze(0) if a.shape[0] == 1
         else torch.tensor(a, dtype=REF) for n, a in fixture.items() if n.startswith("param.")}
    tokens = torch.from_numpy(fixture["batch.tokens"].astype(np.int64))
    targets = torch.from_numpy(fixture["batch.targets"].astype(np.int64))
    print("model: V %d, d %d, L %d, H %d, F %d/%d; batch %d x %d, %d masked targets; "
          "reference in float64" % (cfg["vocab"], cfg["d_model"], cfg["n_layers"], cfg["n_heads"],
                                    cfg["ffn_big"], cfg["ffn_small"], tokens.shape[0],
                                    tokens.shape[1], int((targets < 0).sum())))
    report = td.Report(args.tol)
    for prefix in prefixes:
        check_alphabet(report, prefix, cfg, p, tokens, targets, dump)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
