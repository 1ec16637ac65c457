/* Small numerical helpers shared by every layer. */
#include "posterior/base.h"

#include <math.h>

/* log Σ exp(x_i) = m + log Σ exp(x_i − m), m = max x_i */
double pst_logsumexp(const double *x, size_t n) {
    double m = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    if (m == -INFINITY) return -INFINITY;
    if (m == INFINITY) return INFINITY;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += exp(x[i] - m);
    return m + log(s);
}
