/* Losses of preference learning: Bradley–Terry, DPO / IPO / hinge (include/posterior/preference.h). */
#include "posterior/preference.h"

#include <math.h>
#include <string.h>

/* log σ(z), stable for large |z| */
static double log_sigmoid(double z) { return z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z)); }
static double sigmoid(double z) { return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)); }

double pst_bradley_terry_loss(double r_chosen, double r_rejected, int tie, double *d_margin) {
    double d = r_chosen - r_rejected;
    if (tie) {
        if (d_margin) *d_margin = -0.5 * sigmoid(-d) + 0.5 * sigmoid(d);
        return -0.5 * log_sigmoid(d) - 0.5 * log_sigmoid(-d);
    }
    if (d_margin) *d_margin = -sigmoid(-d);
    return -log_sigmoid(d);
}

static const char *const loss_names[] = {"sigmoid", "ipo", "hinge"};

int pst_dpo_loss_parse(const char *name, pst_dpo_loss_kind *kind, pst_error *err) {
    for (int k = 0; k < 3; k++)
        if (strcmp(name, loss_names[k]) == 0) {
            *kind = (pst_dpo_loss_kind)k;
            return 0;
        }
    return pst_fail(err, "dpo loss '%s': expected sigmoid, ipo or hinge", name);
}

const char *pst_dpo_loss_name(pst_dpo_loss_kind kind) { return loss_names[kind]; }

double pst_dpo_loss(pst_dpo_loss_kind kind, double beta, double label_smoothing, double log_policy_chosen,
                    double log_prior_chosen, double log_policy_rejected, double log_prior_rejected,
                    double *d_margin) {
    double m = (log_policy_chosen - log_prior_chosen) - (log_policy_rejected - log_prior_rejected), g, loss;
    if (kind == PST_DPO_IPO) {
        double e = m - 1 / (2 * beta);
        loss = e * e, g = 2 * e;
    } else if (kind == PST_DPO_HINGE) {
        loss = fmax(0, 1 - beta * m), g = beta * m < 1 ? -beta : 0;
    } else {
        double z = beta * m, eps = label_smoothing;
        loss = -(1 - eps) * log_sigmoid(z) - eps * log_sigmoid(-z);
        g = beta * (-(1 - eps) * sigmoid(-z) + eps * sigmoid(z));
    }
    if (d_margin) *d_margin = g;
    return loss;
}
