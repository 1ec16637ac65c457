/* posterior tune --method dpo (src/cli/tune_dpo.h): pairs -> tokens -> pst_dpo_train -> OUT/model. */
#include "cli/tune_dpo.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

int pst_tune_dpo_check(pst_tune_dpo *d, int is_dpo, const pst_arg *spec, const unsigned char *given, int resume,
                       double kl_coef) {
    const char *own[] = {"pairs", "loss", "label-smoothing", "held-out"};
    for (int i = 0; i < 4 && !is_dpo; i++)
        if (pst_args_given(spec, given, own[i])) {
            fprintf(stderr, "posterior tune: --%s is an option of --method dpo\n", own[i]);
            return 2;
        }
    if (!is_dpo) return 0;
    if (!d->pairs_path) {
        fprintf(stderr, "posterior tune: --method dpo needs --pairs FILE\n");
        return 2;
    }
    if (resume) {
        fprintf(stderr, "posterior tune: --resume is not supported with --method dpo (it trains in one go)\n");
        return 2;
    }
    pst_error err = {0};
    d->o.beta = pst_args_given(spec, given, "kl-coef") ? kl_coef : 0.1;
    if (pst_dpo_loss_parse(d->loss, &d->o.loss, &err) < 0 || pst_dpo_options_check(&d->o, &err) < 0) {
        if (strcmp(err.field, "beta") == 0) snprintf(err.field, sizeof err.field, "kl_coef"); /* β is --kl-coef here */
        pst_cli_fail("tune", spec, &err);
        return 2;
    }
    return 0;
}

void pst_tune_dpo_run_json(const pst_tune_dpo *d, void *run_json) {
    cJSON *run = run_json;
    cJSON_AddStringToObject(run, "pairs", d->pairs_path);
    cJSON_AddStringToObject(run, "loss", pst_dpo_loss_name(d->o.loss));
    cJSON_AddNumberToObject(run, "dpo_beta", d->o.beta);
    cJSON_AddNumberToObject(run, "label_smoothing", d->o.label_smoothing);
    cJSON_AddNumberToObject(run, "held_out", d->o.held_out);
}

/* pairs file -> token pairs read as the prior reads a sample (<|endoftext|> first and last) */
static int load_pairs(const char *path, pst_tokenizer *tok, int n_positions, pst_pair_set *set, pst_token_pair **tp,
                      pst_error *err) {
    if (pst_pairs_read(path, set, err) < 0) return -1;
    pst_pair_set_print_skips(set, path, stderr);
    int eot = pst_tokenizer_token_id(tok, "<|endoftext|>");
    if (eot < 0) return pst_fail(err, "%s: the prior's tokenizer has no <|endoftext|>", path);
    return pst_pairs_tokenize(tok, eot, eot, n_positions, set->pairs, set->n, path, tp, err);
}

int pst_tune_dpo_train(pst_tune_dpo *d, const pst_target_bundle *b, const char *init, const pst_dpg_options *tune,
                       const pst_gpt2_policy_options *po, const pst_reference *ref, const char *out, pst_error *err) {
    pst_gpt2 prior = {0}, policy = {0};
    pst_pair_set set = {0};
    pst_token_pair *tp = NULL;
    pst_tokenizer *tok = pst_text_evidence_tokenizer(b->evidence);
    char metrics[4096], model[4096];
    pst_dpo_options *o = &d->o;
    o->steps = tune->steps, o->batch = tune->batch, o->lr = tune->lr, o->lr_min = tune->lr_min < 0 ? tune->lr : tune->lr_min;
    o->seed = tune->seed, o->eval_every = tune->exact_every, o->quiet = tune->quiet, o->warmup = tune->warmup;
    o->weight_decay = po->weight_decay, o->grad_clip = po->grad_clip;
    o->micro_batch = po->micro_batch > 1 ? po->micro_batch / 2 : 1; /* rows -> pairs (2 rows each) */
    o->sampling = po->sampling;
    o->sampling.eot_token = pst_tokenizer_token_id(tok, "<|endoftext|>");
    if (ref) o->sampling.max_new_tokens = ref->max_new_tokens; /* KL(π‖a) on the same truncation */
    pst_dpo_report rep;
    int rc = -1;
    if (pst_path_join(metrics, sizeof metrics, out, "metrics.jsonl", err) < 0 ||
        pst_path_join(model, sizeof model, out, "model", err) < 0 || pst_gpt2_load(&prior, b->spec.prior, err) < 0 ||
        pst_gpt2_load(&policy, init ? init : b->spec.prior, err) < 0 ||
        load_pairs(d->pairs_path, tok, policy.config.n_positions, &set, &tp, err) < 0)
        goto done;
    o->metrics_path = metrics;
    if (pst_dpo_train(&policy, &prior, tp, (int)set.n, &b->target, ref, o, &rep, err) < 0 ||
        pst_gpt2_save(&policy, model, err) < 0 || pst_tokenizer_save_dir(tok, model, err) < 0)
        goto done;
    printf("{\"pairs\": %zu, \"skipped\": %zu, \"held_out_pairs\": %d, \"held_out_accuracy\": %.4f, "
           "\"held_out_accuracy_se\": %.4f, \"held_out_margin\": %.4f, \"kl_pi_a\": %.4f, \"kl_pi_a_se\": %.4f",
           set.n, set.skipped, rep.held_out.stats.n, rep.held_out.stats.accuracy, rep.held_out.accuracy_se,
           rep.held_out.stats.margin, rep.kl_policy_prior.value, rep.kl_policy_prior.se);
    if (rep.has_exact)
        printf(", \"kl_p_pi_exact\": %.4f, \"kl_p_pi_exact_se\": %.4f", rep.exact.kl_target_policy.value,
               rep.exact.kl_target_policy.se);
    printf("}\n");
    rc = 0;
done:
    pst_token_pairs_free(tp, (int)set.n);
    pst_pair_set_free(&set);
    pst_gpt2_free(&prior), pst_gpt2_free(&policy);
    return rc;
}
