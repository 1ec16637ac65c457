/* PII detectors: positives and hard negatives per detector, Luhn, merging of
 * overlapping and touching spans, redaction, and bad input (NUL bytes,
 * invalid UTF-8, a 50 MB line). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "posterior/pii.h"

static pst_pii *P;

/* "TYPE:text|TYPE:text" of all findings, for compact expectations */
static char *describe(const char *text) {
    pst_pii_finding *f;
    size_t n;
    pst_error err;
    static char buf[4096];
    buf[0] = 0;
    if (pst_pii_find(P, text, strlen(text), &f, &n, &err) < 0) {
        snprintf(buf, sizeof buf, "ERROR %s", err.msg);
        return buf;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s:%.*s", i ? "|" : "",
                              pst_pii_type_name(f[i].type), (int)(f[i].end - f[i].start),
                              text + f[i].start);
    free(f);
    return buf;
}

#define EXPECT(text, want)                                                             \
    do {                                                                               \
        const char *got_ = describe(text);                                             \
        CHECK_MSG(strcmp(got_, want) == 0, "'%s': got '%s', want '%s'", text, got_, want); \
    } while (0)

static void test_email(void) {
    EXPECT("write to john.doe@example.com today", "EMAIL:john.doe@example.com");
    EXPECT("<jane_smith+tag@mail.co.uk>", "EMAIL:jane_smith+tag@mail.co.uk");
    EXPECT("mailto:Bob.O-Neil@sub.example.org.", "EMAIL:Bob.O-Neil@sub.example.org");
    EXPECT("x@y.de", "EMAIL:x@y.de");
    /* e-mail-like strings in code and versions */
    EXPECT("z = x@y.T + w@v.shape", "");
    EXPECT("weights@inputs.py", "");
    EXPECT("npm i left-pad@1.3.0", "");
    EXPECT("a..b@example.com", "");
    EXPECT("user@localhost", "");
    EXPECT("foo@bar", "");
}

static void test_url(void) {
    EXPECT("see https://www.example.com/path?q=1&r=2.", "URL:https://www.example.com/path?q=1&r=2");
    EXPECT("(http://en.wikipedia.org/wiki/Bayes_(statistics))", "URL:http://en.wikipedia.org/wiki/Bayes_(statistics)");
    EXPECT("or www.google.com, or ftp://ftp.gnu.org/gnu/", "URL:www.google.com|URL:ftp://ftp.gnu.org/gnu/");
    EXPECT("setup.py and file.txt and http:// alone", "");
}

static void test_phone(void) {
    EXPECT("Call (415) 555-2671 now", "PHONE:(415) 555-2671");
    EXPECT("415-555-2671, 415.555.2671, 415 555 2671", "PHONE:415-555-2671|PHONE:415.555.2671|PHONE:415 555 2671");
    EXPECT("1-800-555-0199 or +1 415 555 2671", "PHONE:1-800-555-0199|PHONE:+1 415 555 2671");
    EXPECT("dial 555-2671", "PHONE:555-2671");
    EXPECT("+44 20 7946 0958", "PHONE:+44 20 7946 0958");
    EXPECT("+33 1 23 45 67 89", "PHONE:+33 1 23 45 67 89");
    EXPECT("+49 (0)30 123456", "PHONE:+49 (0)30 123456");
    /* hard negatives: dates, versions, times, plain numbers, invalid NANP codes */
    EXPECT("on 2002-08-22 at 12:36:23", "");
    EXPECT("version 1.2.3 of 3.14159265", "");
    EXPECT("id 1234567890 and 12345", "");
    EXPECT("123-456-7890", "");  /* area code starts with 1 */
    EXPECT("415-155-2671", "");  /* exchange starts with 1 */
    EXPECT("911-555-2671", "");  /* N11 is not an area code */
    EXPECT("Date: Thu, 22 Aug 2002 07:36:16 +0100", "");
    EXPECT("+12", "");
    EXPECT("range 100-200-3000", "");
}

static void test_ssn_card(void) {
    EXPECT("SSN 123-45-6789.", "SSN:123-45-6789");
    EXPECT("000-12-3456 666-12-3456 912-34-5678 123-00-4567 123-45-0000", "");
    EXPECT("serial 123-45-67890", "");
    EXPECT("Visa 4111 1111 1111 1111 ok", "CREDIT_CARD:4111 1111 1111 1111");
    EXPECT("4111111111111111", "CREDIT_CARD:4111111111111111");
    EXPECT("amex 3782-822463-10005", "CREDIT_CARD:3782-822463-10005");
    EXPECT("mc 5555555555554444 disc 6011111111111117", "CREDIT_CARD:5555555555554444|CREDIT_CARD:6011111111111117");
    EXPECT("4111 1111 1111 1112", "");   /* fails Luhn */
    EXPECT("1234567812345670", "");      /* Luhn-valid, no issuer starts with 1 */
    EXPECT("4111 11111 111 1111", "");   /* not a card layout */
    EXPECT("4111-1111 1111-1111", "");   /* mixed separators */
    EXPECT("timestamp 20020822123456", "");
}

static void test_luhn(void) {
    CHECK(pst_luhn_valid("79927398713", 11));
    CHECK(!pst_luhn_valid("79927398710", 11));
    CHECK(pst_luhn_valid("4111-1111-1111-1111", 19)); /* separators skipped */
    CHECK(pst_luhn_valid("0", 1) == 0);               /* needs two digits */
    CHECK(pst_luhn_valid("18", 2));                   /* 1*2 + 8 = 10 */
    CHECK(!pst_luhn_valid("", 0));
    /* every single-digit change of a valid number breaks it */
    char num[] = "4539578763621486";
    CHECK(pst_luhn_valid(num, 16));
    int broken = 0;
    for (int i = 0; i < 16; i++) {
        char keep = num[i];
        for (char d = '0'; d <= '9'; d++) {
            if (d == keep) continue;
            num[i] = d;
            broken += !pst_luhn_valid(num, 16);
        }
        num[i] = keep;
    }
    CHECK(broken == 16 * 9);
}

static void test_ip(void) {
    EXPECT("from 192.168.0.1 and 10.0.0.255", "IP:192.168.0.1|IP:10.0.0.255");
    EXPECT("[66.187.233.211]", "IP:66.187.233.211");
    EXPECT("256.1.1.1 1.2.3.4.5 version 1.2.3.4 v1.2.3.4 1.2.3", "");
    EXPECT("IPv6 2001:db8::1 and fe80::1ff:fe23:4567:890a and ::1.", "IP:2001:db8::1|IP:fe80::1ff:fe23:4567:890a|IP:::1");
    EXPECT("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "IP:2001:0db8:85a3:0000:0000:8a2e:0370:7334");
    EXPECT("::ffff:192.0.2.128", "IP:::ffff:192.0.2.128");
    EXPECT("std::vector a::b dead::beef Foo::Bar 12:36:23 00:1a:2b:3c:4d:5e", "");
}

static void test_credentials_handles_addresses(void) {
    EXPECT("ftp://admin:hunter2@ftp.example.com/pub", "CREDENTIAL:ftp://admin:hunter2@ftp.example.com/pub");
    EXPECT("password: hunter22", "CREDENTIAL:hunter22");
    EXPECT("api_key=AbC123xyz;", "CREDENTIAL:AbC123xyz");
    EXPECT("Password = \"s3cr3t!\"", "CREDENTIAL:s3cr3t!");
    EXPECT("password: none, password: ******, forgot your password?", "");
    EXPECT("mailto:bob@example.com", "EMAIL:bob@example.com");
    EXPECT("Follow @jack and @elon_musk!", "HANDLE:@jack|HANDLE:@elon_musk");
    EXPECT("@media screen { } @param x @author me", "");
    EXPECT("class A:\n    @property\n    def f(self): pass\n", "");
    EXPECT("@app.route('/') and @decorator(x)", "");
    EXPECT("Send to 1600 Pennsylvania Avenue NW, Washington, DC 20500.", "ADDRESS:1600 Pennsylvania Avenue NW, Washington, DC 20500");
    EXPECT("at 221 Baker Street.", "ADDRESS:221 Baker Street");
    EXPECT("427-3 Amherst St., Suite 319", "ADDRESS:427-3 Amherst St., Suite 319");
    EXPECT("6822 22nd Ave. N.", "ADDRESS:6822 22nd Ave. N.");
    EXPECT("P.O. Box 1234 and PO Box 12", "ADDRESS:P.O. Box 1234|ADDRESS:PO Box 12");
    EXPECT("P. O.    Box 7", "ADDRESS:P. O.    Box 7"); /* the needle B is 9 bytes in */
    EXPECT("there were 3 dogs on the street", "");
    EXPECT("chapter 12 Main Points", "");
}

static void test_merge_and_redact(void) {
    /* an e-mail inside a URL: one span, the more sensitive type */
    EXPECT("http://example.com/?to=bob@example.com", "EMAIL:http://example.com/?to=bob@example.com");
    /* a URL on an IP address is a URL */
    EXPECT("http://192.168.1.1/admin", "URL:http://192.168.1.1/admin");
    /* touching spans merge: "a@example.com" right after a URL with no gap */
    EXPECT("http://x.org/a@example.com", "EMAIL:http://x.org/a@example.com");
    const char *text = "Mail a@example.com or call 415-555-2671.";
    pst_pii_finding *f;
    size_t n;
    pst_error err;
    CHECK(pst_pii_find(P, text, strlen(text), &f, &n, &err) == 0);
    char *out;
    size_t out_len;
    CHECK(pst_pii_redact(text, strlen(text), f, n, &out, &out_len, &err) == 0);
    CHECK(strcmp(out, "Mail {{EMAIL}} or call {{PHONE}}.") == 0);
    CHECK(out_len == strlen(out));
    free(out);
    /* findings out of order are refused */
    if (n == 2) {
        pst_pii_finding swapped[2] = {f[1], f[0]};
        CHECK(pst_pii_redact(text, strlen(text), swapped, 2, &out, &out_len, &err) == -1);
        CHECK(strstr(err.msg, "out of order") != NULL);
    }
    free(f);
    CHECK(strcmp(pst_pii_type_name(PST_PII_CREDIT_CARD), "CREDIT_CARD") == 0);
    CHECK(strcmp(pst_pii_type_name((pst_pii_type)99), "UNKNOWN") == 0);
}

static void test_bad_input(void) {
    /* NUL bytes and invalid UTF-8 are ordinary bytes */
    const char bin[] = "\x00\xff\xfe a@example.com\x00\xc3\x28 415-555-2671 \x80";
    pst_pii_finding *f;
    size_t n;
    pst_error err;
    CHECK(pst_pii_find(P, bin, sizeof bin - 1, &f, &n, &err) == 0);
    CHECK(n == 2);
    if (n == 2) CHECK(f[0].type == PST_PII_EMAIL && f[0].start == 4 && f[1].type == PST_PII_PHONE);
    free(f);
    CHECK(pst_pii_find(P, "", 0, &f, &n, &err) == 0 && n == 0 && f == NULL);
    /* a 50 MB line of digits and dots (worst case for the number detectors) */
    size_t big = 50u << 20;
    char *line = malloc(big);
    for (size_t i = 0; i < big; i++) line[i] = "1234567890.-@ a"[i % 15];
    memcpy(line + big / 2, " x@example.com ", 15);
    CHECK(pst_pii_find(P, line, big, &f, &n, &err) == 0);
    int has_email = 0;
    for (size_t i = 0; i < n; i++) has_email |= f[i].type == PST_PII_EMAIL && f[i].start == big / 2 + 1;
    CHECK(has_email);
    free(f);
    free(line);
}

static void test_types(void) {
    const char *text = "Mail a@example.com, call 415-555-2671, see http://x.org/?u=b@example.com";
    pst_pii *q;
    pst_error err;
    pst_pii_finding *f;
    size_t n;
    CHECK(pst_pii_create_types("phone,Email", &q, &err) == 0);
    CHECK(pst_pii_find(q, text, strlen(text), &f, &n, &err) == 0);
    /* without URL the e-mail inside the URL is its own span */
    CHECK(n == 3 && f[0].type == PST_PII_EMAIL && f[1].type == PST_PII_PHONE && f[2].type == PST_PII_EMAIL);
    if (n == 3) CHECK(strncmp(text + f[2].start, "b@example.com", 13) == 0);
    free(f);
    pst_pii_free(q);
    CHECK(pst_pii_create_types("URL", &q, &err) == 0);
    CHECK(pst_pii_find(q, text, strlen(text), &f, &n, &err) == 0);
    CHECK(n == 1 && f[0].type == PST_PII_URL);
    free(f);
    pst_pii_free(q);
    CHECK(pst_pii_create_types("EMAIL,NAME", &q, &err) == -1 && q == NULL);
    CHECK(strstr(err.msg, "unknown type 'NAME'") && strstr(err.msg, "CREDIT_CARD"));
    CHECK(pst_pii_create_types("EMAIL,", &q, &err) == -1 && strstr(err.msg, "empty type name in 'EMAIL,'"));
    CHECK(pst_pii_create_types(",EMAIL", &q, &err) == -1);
}

/* Random texts from a PII-dense alphabet (seeded pst_rng): findings are in
 * bounds, sorted, neither overlapping nor touching (merged), and redaction
 * accepts them. */
static void test_random_invariants(void) {
    static const char *pieces[] = {"a", "@", ".", "com", "-", "1", "555", "2671", " ", "\n", ":",
                                   "//", "http", "www", "4111", "(", ")", "+", "\xff", "\0",
                                   "password", "=", "St", "Main", "::", "f", "x", "@jack", "12"};
    pst_rng rng;
    pst_rng_seed(&rng, 42);
    char text[600];
    int bad = 0, total = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = 0;
        int parts = (int)pst_rng_below(&rng, 60);
        for (int k = 0; k < parts; k++) {
            const char *p = pieces[pst_rng_below(&rng, sizeof pieces / sizeof pieces[0])];
            size_t pl = p[0] ? strlen(p) : 1; /* "\0" is one NUL byte */
            if (len + pl >= sizeof text) break;
            memcpy(text + len, p, pl);
            len += pl;
        }
        pst_pii_finding *f;
        size_t n;
        pst_error err;
        if (pst_pii_find(P, text, len, &f, &n, &err) < 0) {
            bad++;
            continue;
        }
        total += (int)n;
        for (size_t i = 0; i < n; i++) {
            if (f[i].start >= f[i].end || f[i].end > len || f[i].type >= PST_PII_N_TYPES) bad++;
            if (i > 0 && f[i].start <= f[i - 1].end) bad++;
        }
        char *red;
        size_t rl;
        if (pst_pii_redact(text, len, f, n, &red, &rl, &err) < 0) bad++;
        else free(red);
        free(f);
    }
    CHECK_MSG(bad == 0, "%d invariant violations", bad);
    CHECK(total > 1000); /* the alphabet does produce findings */
}

int main(void) {
    pst_error err;
    if (pst_pii_create(&P, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_email();
    test_url();
    test_phone();
    test_ssn_card();
    test_luhn();
    test_ip();
    test_credentials_handles_addresses();
    test_merge_and_redact();
    test_bad_input();
    test_types();
    test_random_invariants();
    pst_pii_free(P);
    return check_report();
}
