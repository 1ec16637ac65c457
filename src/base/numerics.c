/* Small numerical helpers shared by every layer. */
#include "posterior/base.h"

#include <math.h>
#include <stdlib.h>

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

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void pst_sort_doubles(double *x, size_t n) { qsort(x, n, sizeof *x, compare_doubles); }
