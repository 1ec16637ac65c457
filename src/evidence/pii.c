/* Personal data (PII) detectors: one PCRE2 (JIT) candidate pattern per
 * detector, then a validator in C that rejects hard negatives (Luhn for credit
 * cards, NANP rules for phones, SSA rules for SSNs, octet ranges, TLD list,
 * CSS/Javadoc at-rules for handles, ...). Findings of all detectors are sorted
 * and overlapping or touching spans merged; the merged span keeps the most
 * sensitive type (lowest pst_pii_type). Patterns run in byte mode, so invalid
 * UTF-8 and NUL bytes are ordinary bytes; every quantifier is bounded, so a
 * 50 MB line costs linear time. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "posterior/pii.h"
#include "evidence/scorer_internal.h"

#include <ctype.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- detectors --------------------------------------------------------- */

typedef int (*pii_validator)(const char *text, size_t len, size_t *start, size_t *end,
                             const PCRE2_SIZE *ov, int n_groups);

typedef struct {
    pst_pii_type type;
    const char *pattern;
    pii_validator validate; /* may narrow [start, end); returns 1 to keep */
    /* Needles: every match has one of these bytes at most max_left bytes after
     * its start or at most right bytes before it (the "://" before a URL's
     * user:password). Matching then starts only near needles, with PCRE2's
     * offset limit bounding the start; NULL = scan every position. */
    const char *needles; /* at most 4 bytes */
    size_t max_left, right;
} pii_detector;

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int count_digits(const char *s, size_t a, size_t b) {
    int n = 0;
    for (size_t i = a; i < b; i++) n += is_digit(s[i]);
    return n;
}

static int ieq(const char *s, size_t n, const char *word) {
    size_t m = strlen(word);
    if (m != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)s[i]) != word[i]) return 0;
    return 1;
}

static int in_list(const char *s, size_t n, const char *const *list) {
    for (int i = 0; list[i]; i++)
        if (ieq(s, n, list[i])) return 1;
    return 0;
}

/* e-mail: the TLD must be a known generic TLD or a two-letter country code
 * (minus a few that are also source-file extensions: x@y.py is code). */
static int valid_email(const char *t, size_t len, size_t *s, size_t *e, const PCRE2_SIZE *ov, int ng) {
    static const char *const gtld[] = {
        "com", "org", "net", "edu", "gov", "mil", "int", "info", "biz", "name", "pro", "aero",
        "coop", "museum", "mobi", "asia", "tel", "travel", "jobs", "cat", "xxx", "app", "dev",
        "io", "ai", "online", "site", "tech", "store", "blog", "cloud", "email", "club", "xyz",
        "top", "shop", "live", "news", "media", "group", "world", "today", "company", "agency",
        "digital", "network", "systems", "solutions", "services", "consulting", "academy",
        "local", "localdomain", "arpa", NULL};
    static const char *const not_cc[] = {"py", "sh", "md", "rs", "cc", "db", "js", "ts", "rb",
                                         "pm", "hh", "so", "el", NULL};
    size_t at = *s;
    while (at < *e && t[at] != '@') at++;
    /* local part: no leading/trailing dot, no ".." */
    if (t[*s] == '.' || t[at - 1] == '.') return 0;
    for (size_t i = *s; i + 1 < at; i++)
        if (t[i] == '.' && t[i + 1] == '.') return 0;
    size_t dot = *e;
    while (dot > at && t[dot - 1] != '.') dot--;
    const char *tld = t + dot;
    size_t n = *e - dot;
    if (in_list(tld, n, gtld)) return 1;
    return n == 2 && !in_list(tld, n, not_cc);
}

/* URL: trim trailing punctuation; keep a ')' only when the URL opened one. */
static int valid_url(const char *t, size_t len, size_t *s, size_t *e, const PCRE2_SIZE *ov, int ng) {
    for (;;) {
        char c = t[*e - 1];
        if (strchr(".,;:!?'\"]}>*", c)) {
            (*e)--;
        } else if (c == ')') {
            int open = 0, close = 0;
            for (size_t i = *s; i < *e; i++) open += t[i] == '(', close += t[i] == ')';
            if (close > open) (*e)--;
            else break;
        } else {
            break;
        }
        if (*e <= *s) return 0;
    }
    /* something after the scheme or "www." */
    size_t i = *s;
    while (i < *e && t[i] != '/' && t[i] != '.') i++;
    while (i < *e && (t[i] == '/' || t[i] == '.' || t[i] == ':')) i++;
    return *e - i >= 3;
}

/* North American numbers: NPA and NXX start with 2-9; NPA is not N11. */
static int valid_phone_na(const char *t, size_t len, size_t *s, size_t *e, const PCRE2_SIZE *ov, int ng) {
    char d[16];
    int n = 0;
    for (size_t i = *s; i < *e && n < 15; i++)
        if (is_digit(t[i])) d[n++] = t[i];
    const char *p = d;
    if (n == 11) {
        if (d[0] != '1') return 0;
        p++, n--;
    }
    if (n == 7) return p[0] >= '2';
    if (n != 10) return 0;
    if (p[0] < '2' || p[3] < '2') return 0;
    if (p[1] == '1' && p[2] == '1') return 0;
    return 1;
}

/* International (+CC ...): 8 to 15 digits in all (ITU E.164). */
static int valid_phone_intl(const char *t, size_t len, size_t *s, size_t *e, const PCRE2_SIZE *ov, int ng) {
    int n = count_digits(t, *s, *e);
    return n >= 8 && n <= 15;
}

/* SSN AAA-GG-SSSS: area not 000, 666 or 9xx; group not 00; serial not 0000. */
static int valid_ssn(const char *t, size_t len, size_t *s, size_t *e, const PCRE2_SIZE *ov, int ng) {
    const char *a = t + *s, *g = a + 4, *r = a + 7;
    if (!memcmp(a, "000", 3) || !memcmp(a, "666", 3) || a[0] == '9') return 0;
    if (!memcmp(g, "00", 2) || !memcmp(r, "0000", 4)) return 0;
    return 1;
}

int pst_luhn_valid(const char *s, size_t len) {
    int sum = 0, n = 0;
    for (size_t i = len; i-- > 0;) {
        if (!is_digit(s[i])) continue;
        int d = s[i] - '0';
        if (n % 2 == 1) {
            d *= 2;
            if (d > 9) d -= 9;
        }
        sum += d;
        n++;
    }
    return n >= 2 && sum % 10 == 0;
}

/* Credit cards: 13-19 digits, a known issuer prefix, Luhn-valid, and either no
 * separators or separators between groups of a real layout (4-4-4-4[-3],
 * 4-6-5, 4-6-4). */
static int valid_card(const char *t, size_t len, size_t *s, size_t *e, const PCRE2_SIZE *ov, int ng) {
    char d[24];
    int n = 0, groups[8], ngroups = 0, cur = 0;
    char sep = 0;
    for (size_t i = *s; i < *e; i++) {
        if (is_digit(t[i])) {
            if (n < 23) d[n++] = t[i];
            cur++;
        } else {
            if (sep && t[i] != sep) return 0; /* mixed separators */
            sep = t[i];
            if (ngroups == 7) return 0;
            groups[ngroups++] = cur;
            cur = 0;
        }
    }
    groups[ngroups++] = cur;
    if (n < 13 || n > 19) return 0;
    if (ngroups > 1) {
        int ok = 0;
        if (groups[0] == 4 && groups[1] == 4) {
            ok = 1;
            for (int i = 2; i < ngroups; i++) ok &= groups[i] == 4 || (i == 4 && groups[i] == 3);
        } else if (ngroups == 3 && groups[0] == 4 && groups[1] == 6 && (groups[2] == 5 || groups[2] == 4)) {
            ok = 1;
        }
        if (!ok) return 0;
    }
    d[n] = 0;
    int p2 = (d[0] - '0') * 10 + (d[1] - '0');
    int p3 = p2 * 10 + (d[2] - '0'), p4 = p3 * 10 + (d[3] - '0');
    int issuer = (d[0] == '4' && (n == 13 || n == 16 || n == 19))          /* Visa */
                 || (p2 >= 51 && p2 <= 55 && n == 16)                      /* Mastercard */
                 || (p4 >= 2221 && p4 <= 2720 && n == 16)                  /* Mastercard 2-series */
                 || ((p2 == 34 || p2 == 37) && n == 15)                    /* Amex */
                 || ((p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649)) && n >= 16) /* Discover */
                 || ((p2 == 36 || p2 == 38 || (p3 >= 300 && p3 <= 305)) && n == 14) /* Diners */
                 || (p4 >= 3528 && p4 <= 3589 && n >= 16)                  /* JCB */
                 || ((p2 == 62) && n >= 16);                               /* UnionPay */
    return issuer && pst_luhn_valid(d, (size_t)n);
}

/* IPv4: not a version number ("version 1.2.3.4", "v1.2.3.4"). */
static int valid_ipv4(const char *t, size_t len, size_t *s, size_t *e, const PCRE2_SIZE *ov, int ng) {
    size_t i = *s;
    while (i > 0 && t[i - 1] == ' ') i--;
    size_t w = i;
    while (w > 0 && is_alpha(t[w - 1])) w--;
    if (in_list(t + w, i - w, (const char *const[]){"version", "ver", "release", "v", "build", "rev", NULL}))
        return 0;
    return 1;
}

/* IPv6: at most 8 groups (fewer only with "::"), and a digit somewhere or at
 * least 3 groups, so C++ "a::b" and "dead::beef" stay code. */
static int valid_ipv6(const char *t, size_t len, size_t *s, size_t *e, const PCRE2_SIZE *ov, int ng) {
    int groups = 0, in_group = 0, dcolon = 0, digits = 0, has_v4 = 0;
    for (size_t i = *s; i < *e; i++) {
        char c = t[i];
        if (c == ':') {
            if (i + 1 < *e && t[i + 1] == ':') dcolon++;
            in_group = 0;
        } else if (c == '.') {
            has_v4 = 1;
        } else {
            if (!in_group) groups++;
            in_group = 1;
            digits += is_digit(c);
        }
    }
    if (has_v4) groups += 1; /* the dotted tail counts as two groups, one already counted */
    if (dcolon > 1 || groups > 8) return 0;
    if (!dcolon && groups != 8) return 0;
    if (groups < 1) return 0;
    return digits > 0 || groups >= 3;
}

/* user:password@ in a URL (after "://") — not a URI scheme or a mail header
 * word before the colon, not a time of day. */
static int valid_cred_url(const char *t, size_t len, size_t *s, size_t *e, const PCRE2_SIZE *ov, int ng) {
    static const char *const words[] = {
        "mailto", "sip", "sips", "tel", "http", "https", "ftp", "news", "urn", "data", "xmpp",
        "from", "to", "cc", "bcc", "re", "fwd", "fw", "subject", "reply-to", "email", "e-mail",
        "mail", "contact", "at", "by", "for", "id", "message-id", "in-reply-to", "references",
        "sender", "return-path", "delivered-to", "x-original-to", NULL};
    size_t u0 = ov[2], u1 = ov[3];
    if (in_list(t + u0, u1 - u0, words)) return 0;
    if (count_digits(t, u0, u1) == (int)(u1 - u0)) return 0;
    return 1;
}

/* password: VALUE — the span is the value; placeholders are not secrets. */
static int valid_cred_kv(const char *t, size_t len, size_t *s, size_t *e, const PCRE2_SIZE *ov, int ng) {
    static const char *const dull[] = {"none", "null", "nil", "true", "false", "required",
                                       "optional", "yes", "no", "n/a", "unknown", "empty",
                                       "string", "str", "the", "your", NULL};
    if (in_list(t + *s, *e - *s, dull)) return 0;
    size_t stars = 0;
    for (size_t i = *s; i < *e; i++) stars += t[i] == '*' || t[i] == 'x' || t[i] == 'X';
    return stars < *e - *s;
}

/* @handle — not a CSS at-rule, Javadoc tag or Python decorator (a handle
 * alone on its line, or followed by "(" or ".name"). */
static int valid_handle(const char *t, size_t len, size_t *s, size_t *e, const PCRE2_SIZE *ov, int ng) {
    static const char *const tags[] = {
        "media", "import", "charset", "keyframes", "page", "supports", "namespace", "font",
        "param", "return", "returns", "throws", "throw", "see", "author", "since", "version",
        "deprecated", "link", "override", "exception", "code", "inheritdoc", "todo", "fixme",
        "property", "staticmethod", "classmethod", "dataclass", "abstractmethod", "pytest",
        "echo", "interface", "implementation", "end", "synthesize", "class", "protocol", NULL};
    if (in_list(t + *s + 1, *e - *s - 1, tags)) return 0;
    if (count_digits(t, *s + 1, *e) == (int)(*e - *s - 1)) return 0; /* "@2" */
    size_t a = *s, b = *e;
    while (a > 0 && (t[a - 1] == ' ' || t[a - 1] == '\t')) a--;
    while (b < len && (t[b] == ' ' || t[b] == '\t' || t[b] == '\r')) b++;
    if ((a == 0 || t[a - 1] == '\n') && (b == len || t[b] == '\n')) return 0;
    return 1;
}

static int keep(const char *t, size_t len, size_t *s, size_t *e, const PCRE2_SIZE *ov, int ng) {
    return 1;
}

#define HEX "[0-9A-Fa-f]{1,4}"
#define IPV4 "(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"
#define STREET_TYPE                                                                             \
    "(?:(?:Street|Avenue|Road|Boulevard|Drive|Lane|Court|Way|Place|Terrace|Parkway|Highway|"    \
    "Circle|Square|Trail|Plaza|Alley|Pike|Loop)\\b|(?:St|Ave|Rd|Blvd|Dr|Ln|Ct|Pl|Ter|Pkwy|Hwy|" \
    "Cir|Sq|Trl)\\b\\.?)(?:[ ]{1,4}(?:[NS][EW]?|[EW])\\b\\.?)?"

static const pii_detector detectors[] = {
    {PST_PII_EMAIL,
     "(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
     "(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])",
     valid_email, "@", 64, 0},
    {PST_PII_URL,
     "(?i)(?<![A-Za-z0-9])(?:(?:https?|s?ftp|ftps)://|www\\d{0,3}\\.)"
     "[^\\s<>\"'`{}|\\\\^\\x00-\\x1f\\x7f]{1,2048}",
     valid_url, ":.", 6, 0},
    {PST_PII_PHONE,
     "(?<![\\w.+/-])(?:(?:\\+?1[-. ]?)?(?:\\(\\d{3}\\)[ ]?|\\d{3}([-. ]))\\d{3}(?(1)\\1|[-. ])\\d{4}"
     "|\\d{3}-\\d{4})(?![\\w-]|[.:/]\\d)",
     valid_phone_na, NULL, 0, 0},
    {PST_PII_PHONE,
     "(?<![\\w+])\\+[1-9]\\d{0,2}(?:[ .-]?(?:\\(\\d{1,4}\\)|\\d{1,5})){2,6}(?![\\w]|[.:/]\\d)",
     valid_phone_intl, "+", 0, 0},
    {PST_PII_SSN, "(?<![\\w.-])\\d{3}-\\d{2}-\\d{4}(?![\\w-]|\\.\\d)", valid_ssn, NULL, 0, 0},
    {PST_PII_CREDIT_CARD, "(?<![\\w.-])\\d(?:[ -]?\\d){12,18}(?![\\w-]|\\.\\d)", valid_card, NULL, 0, 0},
    {PST_PII_IP, "(?<![\\w.])" IPV4 "(?![\\w]|\\.\\d)", valid_ipv4, ".", 3, 0},
    {PST_PII_IP,
     "(?<![\\w:.])(?:(?:" HEX ":){7}" HEX "|(?:" HEX "(?::" HEX "){0,6})?::(?:" HEX
     "(?::" HEX "){0,6})?(?::" IPV4 ")?|(?:" HEX ":){6}" IPV4 ")(?![\\w:]|\\.\\d)",
     valid_ipv6, ":", 4, 0},
    {PST_PII_CREDENTIAL,
     "(?<=://)([A-Za-z0-9._%+-]{1,64}):([^\\s:@/<>\"']{1,128})@(?=[A-Za-z0-9])",
     valid_cred_url, ":", 0, 3},
    {PST_PII_CREDENTIAL,
     "(?i)\\b(?:password|passwd|pwd|passphrase|passcode|api[_-]?key|secret[_-]?key|"
     "access[_-]?token|auth[_-]?token|client[_-]?secret)[ \\t]{0,8}[:=][ \\t]{0,8}[\"']?\\K"
     "[^\\s\"',;()\\[\\]{}<>]{3,128}",
     valid_cred_kv, ":=", 21, 0},
    {PST_PII_HANDLE, "(?<![\\w@.&/:+=-])@[A-Za-z0-9_]{1,15}(?![\\w@(]|[.-]\\w)", valid_handle, "@", 0, 0},
    {PST_PII_ADDRESS,
     "(?<![\\w.-])\\d{1,6}(?:-\\d{1,4})?[ ]{1,4}(?:(?:[NSEW]\\.?|North|South|East|West)[ ]{1,4})?"
     "(?:(?:[A-Z][A-Za-z'-]{0,24}|\\d{1,3}(?:st|nd|rd|th))[ ]{1,4}){1,3}" STREET_TYPE
     "(?:,?[ ]{1,4}(?:Suite|Ste\\.?|Apt\\.?|Apartment|Unit|#)[ ]{0,4}[A-Za-z0-9-]{1,6})?"
     "(?:,?[ \\n]{1,4}[A-Z][a-z]{1,24}(?:[ ]{1,4}[A-Z][a-z]{1,24}){0,2},?[ ]{1,4}[A-Z]{2}"
     "[ ]{1,4}\\d{5}(?:-\\d{4})?)?",
     keep, NULL, 0, 0},
    {PST_PII_ADDRESS, "\\bP\\.?[ ]?O\\.?[ ]{1,4}Box[ ]{1,4}\\d{1,6}\\b", keep, "B", 9, 0},
};
#define N_DETECTORS (sizeof detectors / sizeof detectors[0])

struct pst_pii {
    pcre2_code *code[N_DETECTORS]; /* NULL: detector not selected */
    int jit[N_DETECTORS];
};

const char *pst_pii_type_name(pst_pii_type t) {
    static const char *const names[PST_PII_N_TYPES] = {"CREDENTIAL", "CREDIT_CARD", "SSN",
                                                       "EMAIL",      "PHONE",       "ADDRESS",
                                                       "URL",        "IP",          "HANDLE"};
    return (unsigned)t < PST_PII_N_TYPES ? names[t] : "UNKNOWN";
}

void pst_pii_free(pst_pii *p) {
    if (!p) return;
    for (size_t i = 0; i < N_DETECTORS; i++) pcre2_code_free(p->code[i]);
    free(p);
}

int pst_pii_create(pst_pii **out, pst_error *err) { return pst_pii_create_types(NULL, out, err); }

/* Parses "EMAIL,PHONE" into a bit set of pst_pii_type; NULL or "" = all. */
static int parse_types(const char *types, unsigned *mask, pst_error *err) {
    *mask = 0;
    if (!types || !*types) {
        *mask = (1u << PST_PII_N_TYPES) - 1;
        return 0;
    }
    for (const char *p = types;; p++) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0) return pst_fail(err, "pii: empty type name in '%s'", types);
        int found = 0;
        for (int t = 0; t < PST_PII_N_TYPES && !found; t++)
            if (strlen(pst_pii_type_name((pst_pii_type)t)) == n &&
                strncasecmp(p, pst_pii_type_name((pst_pii_type)t), n) == 0) {
                *mask |= 1u << t;
                found = 1;
            }
        if (!found)
            return pst_fail(err, "pii: unknown type '%.*s' in '%s' (types: CREDENTIAL, CREDIT_CARD, "
                            "SSN, EMAIL, PHONE, ADDRESS, URL, IP, HANDLE)", (int)n, p, types);
        p += n;
        if (!*p) break;
    }
    return 0;
}

int pst_pii_create_types(const char *types, pst_pii **out, pst_error *err) {
    *out = NULL;
    unsigned mask;
    if (parse_types(types, &mask, err) < 0) return -1;
    pst_pii *p = pst_calloc(1, sizeof *p, err);
    if (!p) return -1;
    for (size_t i = 0; i < N_DETECTORS; i++) {
        if (!(mask & (1u << detectors[i].type))) continue;
        int ec;
        PCRE2_SIZE off;
        p->code[i] = pcre2_compile((PCRE2_SPTR)detectors[i].pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_USE_OFFSET_LIMIT, &ec, &off, NULL);
        if (!p->code[i]) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            pst_pii_free(p);
            return pst_fail(err, "pii: internal pattern %zu (%s) does not compile at %zu: %s", i,
                            pst_pii_type_name(detectors[i].type), (size_t)off, (char *)msg);
        }
        p->jit[i] = pcre2_jit_compile(p->code[i], PCRE2_JIT_COMPLETE) == 0;
    }
    *out = p;
    return 0;
}

PST_ARRAY(finding_list, pst_pii_finding)

static int by_start(const void *a, const void *b) {
    const pst_pii_finding *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->end != y->end) return x->end > y->end ? -1 : 1;
    return (int)x->type - (int)y->type;
}

/* Runs detector d over text, appending kept findings. */
static int run_detector(const pst_pii *p, size_t d, const char *text, size_t len,
                        pcre2_match_data *md, pcre2_match_context *mc, finding_list *l,
                        pst_error *err) {
    const pii_detector *det = &detectors[d];
    size_t pos = 0; /* no match may start before pos */
    size_t q = 0;   /* next needle candidate */
    size_t next[4];           /* next occurrence of each needle byte (memchr) */
    int known[4] = {0, 0, 0, 0};
    int n_needles = det->needles ? (int)strlen(det->needles) : 0;
    for (;;) {
        size_t limit = PCRE2_UNSET, start = pos;
        if (det->needles) {
            size_t best = len;
            for (int k = 0; k < n_needles; k++) {
                if (!known[k] || next[k] < q) {
                    const char *hit = q < len ? memchr(text + q, det->needles[k], len - q) : NULL;
                    next[k] = hit ? (size_t)(hit - text) : len;
                    known[k] = 1;
                }
                if (next[k] < best) best = next[k];
            }
            q = best;
            if (q >= len) break;
            start = q >= det->max_left ? q - det->max_left : 0;
            if (start < pos) start = pos;
            limit = q + det->right;
            if (start > limit || start > len) {
                q++;
                continue;
            }
        } else if (pos > len) break;
        pcre2_set_offset_limit(mc, limit);
        int rc = p->jit[d] ? pcre2_jit_match(p->code[d], (PCRE2_SPTR)text, len, start, 0, md, mc)
                           : pcre2_match(p->code[d], (PCRE2_SPTR)text, len, start, 0, md, mc);
        if (rc == PCRE2_ERROR_NOMATCH) {
            if (!det->needles) break;
            q++;
            continue;
        }
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return pst_fail(err, "pii: %s detector failed at byte %zu: %s",
                            pst_pii_type_name(det->type), start, (char *)msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        size_t ks = s, ke = e;
        if (e > s && det->validate(text, len, &ks, &ke, ov, rc) && ke > ks) {
            if (finding_list_push(l, (pst_pii_finding){det->type, ks, ke}, err) < 0) return -1;
            pos = e;
            if (q + 1 + det->right < e) q = e - det->right;
            else q++;
        } else {
            pos = s + 1; /* a rejected candidate may hide a shorter valid one */
        }
    }
    return 0;
}

int pst_pii_find(const pst_pii *p, const char *text, size_t len, pst_pii_finding **out, size_t *n,
                 pst_error *err) {
    *out = NULL;
    *n = 0;
    finding_list l = {0};
    pcre2_match_data *md = pcre2_match_data_create(16, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    if (!md || !mc) {
        pcre2_match_data_free(md);
        pcre2_match_context_free(mc);
        return pst_fail_oom(err, "PCRE2 match data");
    }
    for (size_t d = 0; d < N_DETECTORS; d++)
        if (p->code[d] && run_detector(p, d, text, len, md, mc, &l, err) < 0) {
            free(l.v);
            pcre2_match_data_free(md);
            pcre2_match_context_free(mc);
            return -1;
        }
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    if (l.n == 0) {
        free(l.v);
        return 0;
    }
    qsort(l.v, l.n, sizeof *l.v, by_start);
    /* merge overlapping or touching spans; keep the most sensitive type */
    size_t m = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (m > 0 && l.v[i].start <= l.v[m - 1].end) {
            if (l.v[i].end > l.v[m - 1].end) l.v[m - 1].end = l.v[i].end;
            if (l.v[i].type < l.v[m - 1].type) l.v[m - 1].type = l.v[i].type;
        } else {
            l.v[m++] = l.v[i];
        }
    }
    *out = l.v;
    *n = m;
    return 0;
}

int pst_pii_redact(const char *text, size_t len, const pst_pii_finding *f, size_t n, char **out,
                   size_t *out_len, pst_error *err) {
    *out = NULL;
    size_t cap = len + 1;
    for (size_t i = 0; i < n; i++) cap += strlen(pst_pii_type_name(f[i].type)) + 4;
    char *buf = pst_malloc(cap, err);
    if (!buf) return -1;
    size_t o = 0, pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (f[i].start < pos || f[i].end > len || f[i].end < f[i].start) {
            free(buf);
            return pst_fail(err, "pii: redact: finding %zu [%zu, %zu) is out of order or range", i,
                            f[i].start, f[i].end);
        }
        memcpy(buf + o, text + pos, f[i].start - pos);
        o += f[i].start - pos;
        o += (size_t)sprintf(buf + o, "{{%s}}", pst_pii_type_name(f[i].type));
        pos = f[i].end;
    }
    memcpy(buf + o, text + pos, len - pos);
    o += len - pos;
    buf[o] = 0;
    *out = buf;
    if (out_len) *out_len = o;
    return 0;
}

/* ---- the pii scorer: findings per character ------------------------------ */

static int pii_score(pst_scorer *s, size_t n, const char *const *texts, const size_t *lens,
                     const char *const *contexts, int want_findings, pst_score *out,
                     pst_error *err) {
    for (size_t i = 0; i < n; i++) {
        pst_pii_finding *f;
        size_t nf;
        if (pst_pii_find(s->impl, texts[i], lens[i], &f, &nf, err) < 0)
            return pst_fail_context(err, "scorer 'pii': text %zu", i);
        size_t chars = pst_utf8_chars(texts[i], lens[i]);
        out[i].score = chars ? (double)nf / (double)chars : 0.0;
        for (size_t j = 0; want_findings && j < nf; j++)
            if (pst_score_add_finding(&out[i], pst_pii_type_name(f[j].type), f[j].start, f[j].end,
                                      1.0, err) < 0) {
                free(f);
                return -1;
            }
        free(f);
    }
    return 0;
}

static void pii_destroy(void *p) { pst_pii_free(p); }

static const pst_scorer_ops pii_ops = {pii_score, pii_destroy};

int pst_scorer_create_pii(const char *spec, size_t len, const char *types, pst_scorer **out,
                          pst_error *err) {
    pst_pii *p;
    if (pst_pii_create_types(types, &p, err) < 0)
        return pst_fail_context(err, "scorer '%.*s'", (int)len, spec);
    if (pst_scorer_make(spec, len, &pii_ops, p, PST_SCORER_SCORE, out, err) < 0) return -1;
    (*out)->segment_from_findings = 1;
    return 0;
}
