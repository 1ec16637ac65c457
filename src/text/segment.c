/* Segmenters: documents -> contiguous spans (sentences, lines, or the whole text).
 *
 * Every segmenter partitions [0, len): spans are in order, non-empty, touch, and
 * each carries the whitespace that follows it (so concatenating the spans gives
 * the text back byte for byte). Invalid UTF-8 and NUL bytes are ordinary bytes.
 *
 * Sentence rules (comparable to spaCy's rule-based "sentencizer", plus the
 * abbreviation handling its tokenizer would give it):
 *  - a sentence ends after a run of terminators (. ! ? and Unicode kin such as
 *    … ‼ ⁉ ؟ । and the CJK 。！？), followed by any closing quotes / brackets
 *    (" ' ) ] } ” ’ » › 」 』 ） ...), which stay with the sentence;
 *  - except for CJK full-width terminators, the run must be followed by
 *    whitespace or the end of the text: "3.14", "example.com", "a.b" never split;
 *  - a single "." after a known abbreviation never splits (Mr. Dr. Prof. St.
 *    e.g. i.e. vs. cf. No. Fig. months ...) nor after a single-letter initial
 *    ("J. Smith"), nor after a list marker opening the segment ("5.", "iv.");
 *    after an abbreviation that can also end a sentence (etc. Inc. Jr. and
 *    dotted acronyms such as U.S. or a.m.) it splits only before a word that
 *    typically starts a sentence (The, But, I, We, ...);
 *  - a terminator inside closing quotes / brackets followed by a lower-case
 *    word does not split ('"Stop!" he said', '(as noted.) then');
 *  - an ellipsis (".." / "..." / "…") splits unless the next word is lower case;
 *  - a paragraph break (whitespace containing two or more newlines) always ends
 *    a segment;
 *  - the whitespace after a boundary belongs to the sentence before it; leading
 *    whitespace belongs to the first sentence.
 */
#include "posterior/segment.h"

#include <stdlib.h>
#include <string.h>

int pst_segmenter_parse(const char *name, pst_segmenter *out, pst_error *err) {
    if (!name) return pst_fail(err, "segmenter name missing (expected document, sentence or line)");
    if (strcmp(name, "document") == 0) *out = PST_SEGMENT_DOCUMENT;
    else if (strcmp(name, "sentence") == 0) *out = PST_SEGMENT_SENTENCE;
    else if (strcmp(name, "line") == 0) *out = PST_SEGMENT_LINE;
    else
        return pst_fail(err, "unknown segmenter '%s' (expected document, sentence or line)", name);
    return 0;
}

/* ---- growable span list ---------------------------------------------- */

PST_ARRAY(span_list, pst_span)

static int push(span_list *l, size_t start, size_t end, pst_error *err) {
    return span_list_push(l, (pst_span){.start = start, .end = end}, err);
}

/* ---- UTF-8 ------------------------------------------------------------ */

/* Decodes one code point at s[i]; invalid or truncated sequences decode as
 * U+FFFD of length 1, so every byte string can be scanned. */
static uint32_t decode(const unsigned char *s, size_t len, size_t i, size_t *n) {
    unsigned c = s[i];
    if (c < 0x80) {
        *n = 1;
        return c;
    }
    size_t need;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) need = 1, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) need = 2, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) need = 3, cp = c & 0x07, min = 0x10000;
    else {
        *n = 1;
        return 0xFFFD;
    }
    if (i + need >= len) { /* truncated sequence */
        *n = 1;
        return 0xFFFD;
    }
    for (size_t k = 1; k <= need; k++) {
        unsigned b = s[i + k];
        if ((b & 0xC0) != 0x80) {
            *n = 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        *n = 1;
        return 0xFFFD;
    }
    *n = need + 1;
    return cp;
}

/* Start of the code point that ends just before byte i (i > 0). */
static size_t prev_start(const unsigned char *s, size_t i) {
    size_t j = i - 1;
    size_t k = 0;
    while (j > 0 && k < 3 && (s[j] & 0xC0) == 0x80) j--, k++;
    size_t n;
    if (decode(s, i, j, &n) != 0xFFFD && j + n == i) return j;
    return i - 1;
}

static int is_space(uint32_t cp) {
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' ||
           cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Sentence terminators; *wide is set for CJK full-width ones, which need no
 * whitespace after them. */
static int is_terminator(uint32_t cp, int *wide) {
    *wide = 0;
    switch (cp) {
    case '.': case '!': case '?':
    case 0x2026: /* … */
    case 0x203C: case 0x2047: case 0x2048: case 0x2049: /* ‼ ⁇ ⁈ ⁉ */
    case 0x061F: case 0x06D4: /* Arabic question mark, full stop */
    case 0x0964: case 0x0965: /* Devanagari danda */
    case 0x0589: case 0x1362: case 0x1367: case 0x1368: /* Armenian, Ethiopic */
    case 0xFE52: case 0xFE56: case 0xFE57: /* small full stop, ?, ! */
        return 1;
    case 0x3002: case 0xFF01: case 0xFF0E: case 0xFF1F: case 0xFF61: /* 。！．？｡ */
        *wide = 1;
        return 1;
    default:
        return 0;
    }
}

static int is_closer(uint32_t cp) {
    switch (cp) {
    case '"': case '\'': case ')': case ']': case '}':
    case 0x2019: case 0x201D: /* ’ ” */
    case 0x00BB: case 0x203A: /* » › */
    case 0x300D: case 0x300F: case 0x3009: case 0x300B: case 0x3011: /* 」 』 〉 》 】 */
    case 0x3015: case 0x3017: case 0x3019: case 0x301B:             /* 〕 〗 〙 〛 */
    case 0xFF09: case 0xFF3D: case 0xFF5D: case 0xFF63:             /* ） ］ ｝ ｣ */
        return 1;
    default:
        return 0;
    }
}

static int is_opener(uint32_t cp) {
    return cp == '(' || cp == '[' || cp == '{' || cp == '"' || cp == '\'' || cp == 0x2018 ||
           cp == 0x201C || cp == 0x00AB || cp == 0x2039 || cp == 0x300C || cp == 0x300E ||
           cp == 0xFF08;
}

/* ---- abbreviations ------------------------------------------------------ */

/* Abbreviations after which "." never ends a sentence (compared without the
 * final dot; exact case). */
static const char *const never_final[] = {
    "Mr", "Mrs", "Ms", "Mx", "Dr", "Prof", "St", "Mt", "Ft", "Gen", "Gov", "Sen", "Rep", "Rev",
    "Hon", "Pres", "Col", "Lt", "Capt", "Cpt", "Sgt", "Maj", "Adm", "Cmdr", "Gen", "Messrs",
    "Mme", "Mlle", "Msgr", "Fr", "Supt", "Insp", "e.g", "i.e", "E.g", "I.e", "vs", "Vs", "cf",
    "Cf", "al", "viz", "approx", "ca", "Fig", "fig", "Figs", "figs", "Eq", "eq", "Eqs", "No",
    "no", "Nos", "nos", "Vol", "vol", "Vols", "pp", "Ch", "ch", "Sec", "sec", "Art", "art",
    "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
    "Ave", "Blvd", "Rd", "Univ", "Dept", "Assn", "Op", "ed", "eds", "Ed", "Eds", "vv", "P.S",
    NULL};

/* Abbreviations that can also end a sentence (and dotted acronyms such as
 * U.S.): they end one only before a word that typically starts a sentence, so
 * "the U.S. Senate" and "J.S. Bach" stay whole but "in the U.S. The ..." splits. */
static const char *const maybe_final[] = {
    "etc", "Inc", "Ltd", "Co", "Corp", "Jr", "Sr", "Bros", "Esq", "Ph.D", "PhD", NULL};

static const char *const sentence_starters[] = {
    "The", "A", "An", "But", "And", "Or", "So", "Yet", "I", "We", "You", "He", "She", "It",
    "They", "This", "That", "These", "Those", "There", "Here", "In", "On", "At", "For", "If",
    "As", "When", "While", "Now", "Then", "What", "Why", "How", "Who", "Our", "My", "His",
    "Her", "Their", "Its", "No", "Yes", "Let", "Today", "Tonight", "Thus", "However",
    "Moreover", "Also", "After", "Before", "Since", "Because", "Although", "To", "With",
    "From", "By", "All", "Some", "Many", "Most", "Every", "Each", "One", "Never", "Not", NULL};

static int in_list(const char *const *list, const unsigned char *w, size_t n) {
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == n && memcmp(list[i], w, n) == 0) return 1;
    return 0;
}

static int ascii_alpha(unsigned c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }

/* "U.S", "a.m", "U.S.A": letters separated by single dots (the final dot excluded). */
static int dotted_acronym(const unsigned char *w, size_t n) {
    if (n < 3) return 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 2 == 0 ? !ascii_alpha(w[i]) : w[i] != '.') return 0;
    }
    return n % 2 == 1;
}

/* "1", "12", "iv", "XII": list markers when they open a segment ("5. In the course ..."). */
static int list_marker(const unsigned char *w, size_t n) {
    if (n == 0 || n > 4) return 0;
    int digits = 1, roman = 1;
    for (size_t i = 0; i < n; i++) {
        digits &= w[i] >= '0' && w[i] <= '9';
        roman &= strchr("ivxIVX", w[i]) != NULL && w[i] != 0;
    }
    return (digits && n <= 3) || roman;
}

/* 0: never split here; 1: split; 2: split only before a sentence starter.
 * seg_start is where the current segment begins. */
static int abbreviation_rule(const unsigned char *s, size_t seg_start, size_t dot) {
    size_t b = dot;
    while (b > seg_start) {
        size_t p = prev_start(s, b), n;
        uint32_t cp = decode(s, dot, p, &n);
        if (is_space(cp) || is_opener(cp)) break;
        b = p;
    }
    const unsigned char *w = s + b;
    size_t n = dot - b;
    if (n == 0) return 1;
    if (n == 1 && ascii_alpha(w[0])) return 0; /* an initial: "J. Smith" */
    if (in_list(never_final, w, n)) return 0;
    if (in_list(maybe_final, w, n) || dotted_acronym(w, n)) return 2;
    if (list_marker(w, n)) { /* only preceded by whitespace / openers in this segment? */
        size_t a = seg_start;
        while (a < b) {
            size_t k;
            uint32_t cp = decode(s, b, a, &k);
            if (!is_space(cp) && !is_opener(cp)) return 1;
            a += k;
        }
        return 0;
    }
    return 1;
}

/* The word at s[i..] (letters only) is in list. */
static int word_in(const char *const *list, const unsigned char *s, size_t len, size_t i) {
    size_t e = i;
    while (e < len && ascii_alpha(s[e])) e++;
    return e > i && in_list(list, s + i, e - i);
}

/* ---- segmenters ----------------------------------------------------------- */

static size_t skip_space(const unsigned char *s, size_t len, size_t i, int *newlines) {
    *newlines = 0;
    while (i < len) {
        size_t n;
        uint32_t cp = decode(s, len, i, &n);
        if (!is_space(cp)) break;
        if (cp == '\n' || cp == 0x2029) (*newlines)++;
        i += n;
    }
    return i;
}

/* An ASCII byte that is neither whitespace nor a terminator. */
static inline int ascii_plain(unsigned char c) {
    return c < 0x80 && c != '.' && c != '!' && c != '?' && c != ' ' && (c < '\t' || c > '\r');
}

static int sentences(const unsigned char *s, size_t len, span_list *out, pst_error *err) {
    size_t start = 0, i = 0;
    int has_content = 0; /* the current segment has a non-space character */
    while (i < len) {
        unsigned char c = s[i];
        if (ascii_plain(c) || c == ' ' || c == '\t') { /* fast path: most bytes of prose */
            do {
                has_content |= c != ' ' && c != '\t';
                if (++i == len) break;
                c = s[i];
            } while (ascii_plain(c) || c == ' ' || c == '\t');
            continue;
        }
        size_t n;
        uint32_t cp = decode(s, len, i, &n);
        if (is_space(cp)) {
            int newlines;
            size_t end = skip_space(s, len, i, &newlines);
            if (newlines >= 2 && has_content && end < len) { /* paragraph break */
                if (push(out, start, end, err)) return -1;
                start = end;
                has_content = 0;
            }
            i = end;
            continue;
        }
        int wide;
        if (!is_terminator(cp, &wide)) {
            has_content = 1;
            i += n;
            continue;
        }
        has_content = 1;
        /* a run of terminators, e.g. "?!", "...", "。" */
        size_t run_start = i, j = i + n;
        int dots = cp == '.', others = cp != '.', ellipsis = cp == 0x2026;
        while (j < len) {
            int w2;
            uint32_t c2 = decode(s, len, j, &n);
            if (!is_terminator(c2, &w2)) break;
            wide |= w2;
            if (c2 == '.') dots++;
            else others++;
            if (c2 == 0x2026) ellipsis = 1;
            j += n;
        }
        if (dots >= 2 && others == 0) ellipsis = 1;
        size_t k = j; /* closing quotes and brackets stay with the sentence */
        while (k < len) {
            uint32_t c2 = decode(s, len, k, &n);
            if (!is_closer(c2)) break;
            k += n;
        }
        int newlines;
        size_t next = skip_space(s, len, k, &newlines);
        if (!wide && next == k && k < len) { /* no whitespace after: "3.14", "a.b" */
            i = j;
            continue;
        }
        int rule = 1;
        if (dots == 1 && others == 0 && j == run_start + 1) rule = abbreviation_rule(s, start, run_start);
        if (next < len) {
            unsigned c = s[next];
            int lower = c >= 'a' && c <= 'z';
            if (rule == 2 && !word_in(sentence_starters, s, len, next)) rule = 0;
            if (rule == 1 && ellipsis && lower) rule = 0;
            /* a quoted or bracketed sentence inside another: '"Stop!" he said' */
            if (rule == 1 && k > j && lower) rule = 0;
        }
        if (rule == 0 && newlines < 2) {
            i = j;
            continue;
        }
        if (next < len) { /* text remains: close this sentence */
            if (push(out, start, next, err)) return -1;
            start = next;
            has_content = 0;
        }
        i = next;
    }
    if (start < len && push(out, start, len, err)) return -1;
    return 0;
}

static int lines(const unsigned char *s, size_t len, span_list *out, pst_error *err) {
    size_t start = 0;
    while (start < len) {
        const unsigned char *nl = memchr(s + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - s) + 1 : len;
        if (push(out, start, end, err)) return -1;
        start = end;
    }
    return 0;
}

int pst_segment(pst_segmenter kind, const char *text, size_t len, pst_span **spans,
                size_t *n_spans, pst_error *err) {
    *spans = NULL;
    *n_spans = 0;
    if (len > 0 && !text) return pst_fail(err, "segment: NULL text of length %zu", len);
    span_list l = {0};
    int rc;
    switch (kind) {
    case PST_SEGMENT_DOCUMENT: rc = len ? push(&l, 0, len, err) : 0; break;
    case PST_SEGMENT_SENTENCE: rc = sentences((const unsigned char *)text, len, &l, err); break;
    case PST_SEGMENT_LINE: rc = lines((const unsigned char *)text, len, &l, err); break;
    default: rc = pst_fail(err, "segment: unknown segmenter %d", (int)kind);
    }
    if (rc) {
        free(l.v);
        return -1;
    }
    *spans = l.v;
    *n_spans = l.n;
    return 0;
}
