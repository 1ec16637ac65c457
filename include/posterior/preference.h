/* posterior — train layer: learning from pairwise preferences (y_w ≻ y_l for a prompt).
 *
 * Bradley–Terry: P(y_w ≻ y_l) = σ(r(y_w) − r(y_l)); a reward model r̂ minimises
 * −log σ(r̂_w − r̂_l) (a tie counts as half a win each way).
 * DPO family (Rafailov et al. 2023; IPO: Azar et al. 2023): with the implicit reward margin
 *   m = (log π(y_w) − log a(y_w)) − (log π(y_l) − log a(y_l))     (a = the reference, the prior)
 *   sigmoid  L = −(1 − ε)·log σ(β m) − ε·log σ(−β m)     (ε: label smoothing, cDPO)
 *   ipo      L = (m − 1/(2β))²
 *   hinge    L = max(0, 1 − β m)
 * Under Bradley–Terry preferences from r over pairs that cover the support, the sigmoid
 * loss is minimised by π ∝ a·exp(r/β): the posterior of KL-regularised RL
 * (tests/train/test_preference.c checks it on the enumerable toy).
 */
#ifndef POSTERIOR_PREFERENCE_H
#define POSTERIOR_PREFERENCE_H

#include "posterior/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* −log σ(r_w − r_l) (tie: −½ log σ(d) − ½ log σ(−d)); *d_margin = ∂L/∂(r_w − r_l). */
double pst_bradley_terry_loss(double r_chosen, double r_rejected, int tie, double *d_margin);

typedef enum { PST_DPO_SIGMOID = 0, PST_DPO_IPO, PST_DPO_HINGE } pst_dpo_loss_kind;
int pst_dpo_loss_parse(const char *name, pst_dpo_loss_kind *kind, pst_error *err);
const char *pst_dpo_loss_name(pst_dpo_loss_kind kind);

/* The loss of one pair from its four sequence log-probs; *d_margin = ∂L/∂m, so that
 * ∂L/∂log π(y_w) = *d_margin and ∂L/∂log π(y_l) = −*d_margin. */
double pst_dpo_loss(pst_dpo_loss_kind kind, double beta, double label_smoothing, double log_policy_chosen,
                    double log_prior_chosen, double log_policy_rejected, double log_prior_rejected,
                    double *d_margin);

#ifdef __cplusplus
}
#endif

#endif
