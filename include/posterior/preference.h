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
#include "posterior/prior.h"
#include "posterior/reward_model.h"

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

/* ---- on GPT-2 ------------------------------------------------------------------------ */

/* A preference pair in tokens: chosen / rejected = <|endoftext|> + prompt + response, the
 * first prompt_len tokens (<|endoftext|> + prompt) shared by both and not scored. */
typedef struct {
    int *chosen, *rejected;
    int n_chosen, n_rejected;
    int prompt_len;
    int tie;
} pst_token_pair;

void pst_token_pairs_free(pst_token_pair *p, int n);

typedef struct {
    double loss;      /* mean loss over the pairs */
    double accuracy;  /* fraction of the non-tie pairs with r_w > r_l (DPO: implicit reward, m > 0) */
    double margin;    /* mean r_w − r_l (DPO: β·m) over the non-tie pairs */
    int n, n_ties;
} pst_pair_stats;

/* Bradley–Terry on a reward model, one batch of n pairs: one forward of the 2n rows (chosen
 * then rejected), L = (1/n) Σ BT(r_w, r_l, tie); when head_grad is not NULL, ∂(scale·L) is
 * ACCUMULATED into head_grad [C] and the trunk's grads. Stats of the batch in *st. */
int pst_rm_pairs_batch(pst_reward_model *rm, const pst_token_pair *pairs, int n, float *head_grad, float scale,
                       pst_pair_stats *st, pst_error *err);

/* Sequence log-probs of the responses under m: logp_chosen[i] = Σ_{t ≥ prompt_len} log m(y_t | y_<t)
 * and the same for the rejected (batched, no gradient). */
int pst_pairs_logprobs(pst_gpt2 *m, const pst_token_pair *pairs, int n, double *logp_chosen, double *logp_rejected,
                       pst_error *err);

/* The DPO family on a GPT-2 policy π, one batch of n pairs: one forward of the 2n rows,
 * log π of both responses, L = (1/n) Σ pst_dpo_loss(m_i) with the reference's log-probs
 * ref_chosen[n], ref_rejected[n] (a tie is the mean of both orientations); with grads != 0,
 * ∂(scale·L)/∂θ is ACCUMULATED into π's grads. st->margin is the implicit reward margin β·m. */
int pst_dpo_pairs_batch(pst_gpt2 *policy, const pst_token_pair *pairs, int n, const double *ref_chosen,
                        const double *ref_rejected, pst_dpo_loss_kind kind, double beta, double label_smoothing,
                        int grads, float scale, pst_pair_stats *st, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
