/* The learning-rate schedule against values worked out by hand from the
 * formula in include/duocl/schedule.h, plus its shape: rising during
 * warm-up, falling after, ending exactly at min_lr, never outside
 * [0, lr]. Tolerance 1e-15 relative (double arithmetic, one cos). */
#include <math.h>
#include <stdio.h>

#include "duocl/schedule.h"
#include "unitcheck.h"

static duo_train_config make(int warmup, int steps, double lr, double min_lr, duo_schedule_kind kind)
{
    duo_train_config t = {0};
    t.warmup = warmup;
    t.steps = steps;
    t.lr = lr;
    t.min_lr = min_lr;
    t.schedule = kind;
    return t;
}

static bool near(double a, double b) { return fabs(a - b) <= 1e-15 * fmax(1.0, fabs(b)); }

static void expect(const char *name, const duo_train_config *t, long step, double want)
{
    double got = duo_lr_at(t, step);
    unit_check(name, near(got, want), "step %ld: got %.17g want %.17g", step, got, want);
}

static void cosine_hits_hand_computed_values(void)
{
    duo_train_config t = make(10, 101, 1.0, 0.1, DUO_SCHEDULE_COSINE);
    expect("warmup_first_step_is_lr_over_W", &t, 0, 0.1);
    expect("warmup_step_4", &t, 4, 0.5);
    expect("warmup_last_step_is_lr", &t, 9, 1.0);
    expect("first_cosine_step_is_lr", &t, 10, 1.0);
    expect("cosine_midpoint", &t, 55, 0.55); /* p = 45/90 = 0.5: min + (lr-min)/2 */
    expect("cosine_quarter", &t, 10 + 30, 0.1 + 0.9 * 0.5 * (1 + cos(3.14159265358979323846 / 3)));
    expect("last_step_is_exactly_min_lr", &t, 100, 0.1);
    expect("past_the_end_stays_at_min_lr", &t, 1000, 0.1);
}

static void constant_and_no_warmup(void)
{
    duo_train_config c = make(4, 50, 3e-3, 0, DUO_SCHEDULE_CONSTANT);
    expect("constant_warmup", &c, 1, 1.5e-3);
    expect("constant_after_warmup", &c, 4, 3e-3);
    expect("constant_last_step", &c, 49, 3e-3);
    duo_train_config n = make(0, 10, 2e-3, 2e-4, DUO_SCHEDULE_COSINE);
    expect("no_warmup_first_step_is_lr", &n, 0, 2e-3);
    expect("no_warmup_last_step_is_min", &n, 9, 2e-4);
}

static void shape_holds_for_quickstart_and_edge_cases(void)
{
    struct { int warmup, steps; } cases[] = {{30, 300}, {0, 1}, {1, 1}, {5, 5}, {4, 5}, {0, 2}, {3, 7}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        duo_train_config t = make(cases[c].warmup, cases[c].steps, 2e-3, 2e-4, DUO_SCHEDULE_COSINE);
        char name[80];
        snprintf(name, sizeof name, "shape[W=%d,S=%d]", t.warmup, t.steps);
        double previous = 0;
        for (long s = 0; s < t.steps + 3; s++) {
            double lr = duo_lr_at(&t, s);
            if (!unit_check(name, isfinite(lr) && lr > 0 && lr <= t.lr, "step %ld: lr %g outside (0, lr]", s, lr))
                break;
            bool rising = s < t.warmup;
            if (s > 0 && !unit_check(name, rising ? lr > previous : (s == t.warmup || lr <= previous),
                                     "step %ld: lr %g after %g breaks the shape", s, lr, previous))
                break;
            previous = lr;
        }
        if (t.steps - 1 > t.warmup)
            unit_check(name, near(duo_lr_at(&t, t.steps - 1), t.min_lr), "last step %g, min_lr %g",
                       duo_lr_at(&t, t.steps - 1), t.min_lr);
    }
}

int main(void)
{
    printf("test_schedule\n");
    UNIT_RUN(cosine_hits_hand_computed_values);
    UNIT_RUN(constant_and_no_warmup);
    UNIT_RUN(shape_holds_for_quickstart_and_edge_cases);
    return unit_summary("test_schedule");
}
