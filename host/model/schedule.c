/* Learning-rate schedule: linear warm-up, then cosine to min_lr or constant.
 * The formula is spelled out in include/duocl/schedule.h. */
#include <math.h>

#include "duocl/schedule.h"

double duo_lr_at(const duo_train_config *train, long step)
{
    const double lr = train->lr, min_lr = train->min_lr;
    const long warmup = train->warmup, steps = train->steps;
    if (step < 0)
        step = 0;
    if (step < warmup)
        return lr * (double)(step + 1) / (double)warmup;
    if (train->schedule == DUO_SCHEDULE_CONSTANT)
        return lr;
    long span = steps - 1 - warmup;
    double p = span > 0 ? (double)(step - warmup) / (double)span : 0.0;
    if (span <= 0 && step > warmup)
        p = 1.0;
    if (p > 1.0)
        p = 1.0;
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * p));
}
