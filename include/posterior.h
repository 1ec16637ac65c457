/* posterior — the public C API. Include this header for all of it, or one
 * layer's headers (include/posterior/...) for a part. Layers, lowest first:
 *   base      errors, RNG, files, metrics, GEMM
 *   prior     GPT-2: forward/backward, AdamW, sampling, scoring, checkpoints
 *   text      tokenizer, segmenters, corpora, token shards and the batch loader
 *   evidence  scorers: PEP8, PII, toxicity, pointwise, features, external
 *   target    distributions, energy-based targets, estimators, samplers
 *   train     MLE, pretraining with feedback, the DPG family
 *   eval      evaluation: targets, pretrained models, LM loss, diversity */
#ifndef POSTERIOR_H
#define POSTERIOR_H
#include "posterior/base.h"
#include "posterior/prior.h"
#include "posterior/tokenizer.h"
#include "posterior/segment.h"
#include "posterior/corpus.h"
#include "posterior/shard.h"
#include "posterior/scorer.h"
#include "posterior/pep8.h"
#include "posterior/pii.h"
#include "posterior/toxicity.h"
#include "posterior/target.h"
#include "posterior/train.h"
#include "posterior/dpg.h"
#include "posterior/pretrain.h"
#include "posterior/eval.h"
#endif
