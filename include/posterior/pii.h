/* posterior — evidence: personal data (PII) detectors.
 *
 * PII: e-mail, URL, phone (North American and international), US SSN, credit
 * card (Luhn), IPv4/IPv6, credentials (`user:pass@`, `password: ...`),
 * Twitter/X handles, US street addresses (heuristic). Findings are typed byte
 * spans; overlapping or touching spans are merged (the merged span keeps the
 * type of its most sensitive part, see PST_PII_* order). The PII score of a
 * text is findings per character.
 *
 * Thread-safe: a pst_pii detector is immutable after creation.
 */
#ifndef POSTERIOR_PII_H
#define POSTERIOR_PII_H

#include "posterior/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* In order of sensitivity: when spans merge, the lowest value wins. */
typedef enum {
    PST_PII_CREDENTIAL = 0,
    PST_PII_CREDIT_CARD,
    PST_PII_SSN,
    PST_PII_EMAIL,
    PST_PII_PHONE,
    PST_PII_ADDRESS,
    PST_PII_URL,
    PST_PII_IP,
    PST_PII_HANDLE,
    PST_PII_N_TYPES
} pst_pii_type;

typedef struct {
    pst_pii_type type;
    size_t start, end; /* bytes, [start, end) */
} pst_pii_finding;

typedef struct pst_pii pst_pii;

int pst_pii_create(pst_pii **out, pst_error *err);
/* Only the detectors of the types in `types`, a comma-separated list of type
 * names ("EMAIL,PHONE", case-insensitive); NULL or "" = all. An unknown name
 * is an error that lists the valid ones. */
int pst_pii_create_types(const char *types, pst_pii **out, pst_error *err);
void pst_pii_free(pst_pii *p);

/* "EMAIL", "URL", "PHONE", "SSN", "CREDIT_CARD", "IP", "CREDENTIAL",
 * "HANDLE", "ADDRESS". */
const char *pst_pii_type_name(pst_pii_type t);

/* Finds PII in text[0, len) (bytes; NULs and invalid UTF-8 allowed).
 * *out is malloc'd (NULL when none), sorted by start, merged. */
int pst_pii_find(const pst_pii *p, const char *text, size_t len, pst_pii_finding **out,
                 size_t *n, pst_error *err);

/* Replaces each finding by "{{TYPE}}"; *out malloc'd, NUL-terminated. */
int pst_pii_redact(const char *text, size_t len, const pst_pii_finding *f, size_t n, char **out,
                   size_t *out_len, pst_error *err);

/* Luhn check over the digits of s[0, len) (other characters skipped);
 * 1 if valid and at least 2 digits. */
int pst_luhn_valid(const char *s, size_t len);

#ifdef __cplusplus
}
#endif

#endif
