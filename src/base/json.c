/* JSON text: numbers (no inf/NaN in JSON) and quoted strings, for every layer that
 * writes JSON by hand (metrics lines, reports, requests to external scorers). */
#include "posterior/base.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pst_json_number(char buf[32], double x, int digits) {
    if (!isfinite(x)) return "null";
    snprintf(buf, 32, "%.*g", digits, x);
    return buf;
}

/* Length of the valid UTF-8 sequence at s[0, n), 0 when invalid. */
static size_t utf8_valid_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t need;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 1, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) need = 2, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) need = 3, cp = c & 0x07;
    else return 0;
    if (n < need + 1) return 0;
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return need + 1;
}

size_t pst_utf8_valid_len(const char *s, size_t n) {
    return n ? utf8_valid_len((const unsigned char *)s, n) : 0;
}

char *pst_json_quote(const char *s, size_t n, size_t *out_len) {
    size_t cap = n * 6 + 3; /* worst case: every byte as \uXXXX */
    if (n > (SIZE_MAX - 3) / 6) return NULL;
    char *o = malloc(cap);
    if (!o) return NULL;
    size_t k = 0;
    o[k++] = '"';
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            o[k++] = (char)c;
            i++;
            continue;
        }
        switch (c) {
        case '"': o[k++] = '\\'; o[k++] = '"'; i++; continue;
        case '\\': o[k++] = '\\'; o[k++] = '\\'; i++; continue;
        case '\n': o[k++] = '\\'; o[k++] = 'n'; i++; continue;
        case '\t': o[k++] = '\\'; o[k++] = 't'; i++; continue;
        case '\r': o[k++] = '\\'; o[k++] = 'r'; i++; continue;
        default: break;
        }
        if (c < 0x20) {
            k += (size_t)sprintf(o + k, "\\u%04x", c);
            i++;
            continue;
        }
        size_t m = utf8_valid_len(u + i, n - i);
        if (m == 0) {
            memcpy(o + k, "\\ufffd", 6);
            k += 6;
            i++;
        } else {
            memcpy(o + k, s + i, m);
            k += m;
            i += m;
        }
    }
    o[k++] = '"';
    o[k] = 0;
    if (out_len) *out_len = k;
    return o;
}
