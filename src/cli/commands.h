/* Every subcommand is `int cmd_NAME(int argc, char **argv)`, argv[0] being the
 * first argument after the subcommand's name; it returns the process exit code
 * (0 ok, 1 failure or "found something" where a peer tool does so, 2 usage). */
#ifndef POSTERIOR_CLI_COMMANDS_H
#define POSTERIOR_CLI_COMMANDS_H

typedef int (*pst_command_fn)(int argc, char **argv);

#define POSTERIOR_COMMANDS(X)                                                              \
    X(train, "train a GPT-2 prior by maximum likelihood on token data")                    \
    X(sample, "sample from a model (JSON lines with tokens, text and log-probs)")          \
    X(logprob, "score sequences: log pi(x), per token")                                    \
    X(tokenize, "text on stdin -> token ids")                                              \
    X(detokenize, "token ids on stdin -> text")                                            \
    X(tokenizer, "tokenizer train: learn a byte-level BPE vocabulary")                     \
    X(prepare, "corpus -> token shards with segments and scores")                          \
    X(data, "data info SHARD: counts and score histogram")                                 \
    X(score, "score texts with a scorer spec (JSON lines)")                                \
    X(pep8, "PEP8 checker, drop-in for pycodestyle")                                       \
    X(pii, "find (or --redact) personal data in files")                                    \
    X(target, "target fit | estimate | sample: the posterior p(x) = P(x)/Z")               \
    X(tune, "train a policy toward a target (DPG family, KL-regularised RL)")              \
    X(pretrain, "pretraining with human feedback (six objectives); pretrain eval evaluates")  \
    X(eval, "evaluate a model against a target: alignment, KL, diversity, LM loss")       \
    X(report, "an HTML report of runs: configuration, curves, evaluations, samples")     \
    X(label, "label serve | export: a person's judgements of sample pairs -> preference pairs") \
    X(rm, "rm train: a reward model from preference pairs (Bradley-Terry)")                 \
    X(pairs, "pairs make: preference pairs labelled by an oracle scorer")

#define X(name, help) int cmd_##name(int argc, char **argv);
POSTERIOR_COMMANDS(X)
#undef X

/* `posterior pretrain eval` (cmd_pretrain.c); `posterior eval --task T` is its old spelling */
int cmd_pretrain_eval(int argc, char **argv);

#endif
