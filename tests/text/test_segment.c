/* Segmenters: hand-written expected splits, and the partition property
 * (spans contiguous, in order, non-empty, covering [0, len)) on every case and
 * on random byte strings. */
#include "check.h"
#include "posterior/segment.h"

#include <stdlib.h>
#include <string.h>

/* Checks that the spans partition [0, len) exactly. */
static int is_partition(const pst_span *sp, size_t n, size_t len) {
    if (len == 0) return n == 0;
    if (n == 0 || sp[0].start != 0 || sp[n - 1].end != len) return 0;
    for (size_t i = 0; i < n; i++) {
        if (sp[i].end <= sp[i].start) return 0;
        if (i > 0 && sp[i].start != sp[i - 1].end) return 0;
    }
    return 1;
}

/* expected: NULL-terminated list of segment texts. */
static void expect_len(pst_segmenter kind, const char *text, size_t len, const char *const *expected,
                       int line) {
    pst_span *sp = NULL;
    size_t n = 0;
    pst_error err = {0};
    int rc = pst_segment(kind, text, len, &sp, &n, &err);
    CHECK_MSG(rc == 0, "line %d: %s", line, err.msg);
    CHECK_MSG(is_partition(sp, n, len), "line %d: not a partition", line);
    size_t want = 0;
    while (expected[want]) want++;
    int same = n == want;
    for (size_t i = 0; same && i < n; i++)
        same = strlen(expected[i]) == sp[i].end - sp[i].start &&
               memcmp(expected[i], text + sp[i].start, sp[i].end - sp[i].start) == 0;
    CHECK_MSG(same, "line %d: got %zu segments, want %zu", line, n, want);
    if (!same) {
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "   got [%.*s]\n", (int)(sp[i].end - sp[i].start), text + sp[i].start);
        for (size_t i = 0; i < want; i++) fprintf(stderr, "  want [%s]\n", expected[i]);
    }
    free(sp);
}

#define EXPECT(kind, text, ...)                                                   \
    do {                                                                          \
        const char *const exp_[] = {__VA_ARGS__, NULL};                           \
        expect_len(kind, text, strlen(text), exp_, __LINE__);                     \
    } while (0)
#define SENT(text, ...) EXPECT(PST_SEGMENT_SENTENCE, text, __VA_ARGS__)

static void test_sentences(void) {
    SENT("Hello world. This is a test.", "Hello world. ", "This is a test.");
    SENT("Is it? Yes! No.", "Is it? ", "Yes! ", "No.");
    SENT("Wait?! Really?!  Okay.", "Wait?! ", "Really?!  ", "Okay.");
    /* closing quotes and brackets stay with the sentence */
    SENT("He said \"Stop.\" Then he left.", "He said \"Stop.\" ", "Then he left.");
    SENT("(See the note.) Next one.", "(See the note.) ", "Next one.");
    SENT("She wrote \xe2\x80\x9c" "Done!\xe2\x80\x9d She left.", "She wrote \xe2\x80\x9c" "Done!\xe2\x80\x9d ",
         "She left.");
    SENT("It's 'fine.' Really.", "It's 'fine.' ", "Really.");
    /* abbreviations, initials, decimals */
    SENT("Mr. Smith met Dr. Jones at 3 p.m. yesterday.", "Mr. Smith met Dr. Jones at 3 p.m. yesterday.");
    SENT("Prices rose 3.14 percent. Wages fell.", "Prices rose 3.14 percent. ", "Wages fell.");
    SENT("Use a tool, e.g. a hammer. Then stop.", "Use a tool, e.g. a hammer. ", "Then stop.");
    SENT("That is, i.e. the same.", "That is, i.e. the same.");
    SENT("J. R. R. Tolkien wrote it. He died.", "J. R. R. Tolkien wrote it. ", "He died.");
    SENT("The U.S. economy grew.", "The U.S. economy grew.");
    SENT("He moved to the U.S. The weather was good.", "He moved to the U.S. ", "The weather was good.");
    SENT("Apples, pears, etc. are fruit.", "Apples, pears, etc. are fruit.");
    SENT("We sold apples, pears, etc. Then we left.", "We sold apples, pears, etc. ", "Then we left.");
    SENT("See No. 5 and Fig. 2 for details.", "See No. 5 and Fig. 2 for details.");
    SENT("Visit example.com today. Or not.", "Visit example.com today. ", "Or not.");
    SENT("The vote was in Jan. 1990 and passed.", "The vote was in Jan. 1990 and passed.");
    SENT("In 1990. The war ended.", "In 1990. ", "The war ended.");
    /* dotted acronyms and "etc." end a sentence only before a typical sentence starter */
    SENT("Of the members of the U.N. Security Council, five are permanent.",
         "Of the members of the U.N. Security Council, five are permanent.");
    SENT("He played J.S. Bach all night.", "He played J.S. Bach all night.");
    SENT("It was made in the U.S.A. But it sold abroad.", "It was made in the U.S.A. ", "But it sold abroad.");
    SENT("Smith & Co. Ltd. signed. Jones Inc. Chairman spoke.", "Smith & Co. Ltd. signed. ",
         "Jones Inc. Chairman spoke.");
    SENT("P.S. I know.", "P.S. I know.");
    /* list markers opening a segment */
    SENT("5. In the course of the year, work went on.", "5. In the course of the year, work went on.");
    SENT("iv. Reports were filed. Then it ended.", "iv. Reports were filed. ", "Then it ended.");
    SENT("We met in 1990. 5. The next item.", "We met in 1990. ", "5. The next item.");
    /* a quoted exclamation or question followed by a lower-case word stays inside */
    SENT("\"What a strange thing!\" said the overseer. He left.",
         "\"What a strange thing!\" said the overseer. ", "He left.");
    SENT("'Now be we all here?' said the carrier.", "'Now be we all here?' said the carrier.");
    SENT("He asked: \"Why?\" Nobody knew.", "He asked: \"Why?\" ", "Nobody knew.");
    SENT("Stop! he said.", "Stop! ", "he said.");
    SENT("Telus (as bad as Rogers.) cannot fix it.", "Telus (as bad as Rogers.) cannot fix it.");
    /* ellipses */
    SENT("Well... maybe later.", "Well... maybe later.");
    SENT("I waited... Nobody came.", "I waited... ", "Nobody came.");
    SENT("I waited\xe2\x80\xa6 Nobody came.", "I waited\xe2\x80\xa6 ", "Nobody came.");
    /* paragraphs: a blank line ends a segment even without a terminator */
    SENT("Title\n\nFirst line of text", "Title\n\n", "First line of text");
    SENT("no stop here\nstill same sentence. Next", "no stop here\nstill same sentence. ", "Next");
    SENT("A heading\n  \n\nBody.", "A heading\n  \n\n", "Body.");
    /* whitespace: leading goes to the first segment, trailing to the last */
    SENT("  Lead. Trail.  \n", "  Lead. ", "Trail.  \n");
    SENT("   ", "   ");
    SENT("...", "...");
    SENT("Hi.", "Hi.");
    /* CJK full stops need no space */
    SENT("\xe4\xbd\xa0\xe5\xa5\xbd\xe3\x80\x82\xe5\x86\x8d\xe8\xa7\x81\xef\xbc\x81",
         "\xe4\xbd\xa0\xe5\xa5\xbd\xe3\x80\x82", "\xe5\x86\x8d\xe8\xa7\x81\xef\xbc\x81");
    /* Unicode whitespace (no-break space) after the terminator */
    SENT("One.\xc2\xa0Two.", "One.\xc2\xa0", "Two.");
    /* invalid UTF-8 is just bytes */
    SENT("Bad \xff\xfe byte. Next \xc3.", "Bad \xff\xfe byte. ", "Next \xc3.");
}

static void test_lines_and_documents(void) {
    EXPECT(PST_SEGMENT_LINE, "a\nbb\n\nccc", "a\n", "bb\n", "\n", "ccc");
    EXPECT(PST_SEGMENT_LINE, "def f():\n    return 1\n", "def f():\n", "    return 1\n");
    EXPECT(PST_SEGMENT_LINE, "\r\n\r\n", "\r\n", "\r\n");
    EXPECT(PST_SEGMENT_DOCUMENT, "One. Two.\nThree", "One. Two.\nThree");
    /* NUL bytes are ordinary bytes */
    const char nul[] = "a\0b\nxy. \0d.";
    pst_span *sp;
    size_t n;
    pst_error err;
    CHECK(pst_segment(PST_SEGMENT_LINE, nul, sizeof nul - 1, &sp, &n, &err) == 0);
    CHECK(n == 2 && sp[0].end == 4 && sp[1].end == sizeof nul - 1);
    free(sp);
    CHECK(pst_segment(PST_SEGMENT_SENTENCE, nul, sizeof nul - 1, &sp, &n, &err) == 0);
    CHECK_MSG(n == 2 && sp[0].end == 8 && is_partition(sp, n, sizeof nul - 1), "n=%zu end=%zu", n, n ? sp[0].end : 0);
    free(sp);
    /* empty text: zero segments for every kind */
    for (int k = 0; k < 3; k++) {
        CHECK(pst_segment((pst_segmenter)k, "", 0, &sp, &n, &err) == 0);
        CHECK(n == 0);
        free(sp);
    }
}

static void test_parse(void) {
    pst_segmenter k;
    pst_error err;
    CHECK(pst_segmenter_parse("sentence", &k, &err) == 0 && k == PST_SEGMENT_SENTENCE);
    CHECK(pst_segmenter_parse("line", &k, &err) == 0 && k == PST_SEGMENT_LINE);
    CHECK(pst_segmenter_parse("document", &k, &err) == 0 && k == PST_SEGMENT_DOCUMENT);
    CHECK(pst_segmenter_parse("paragraph", &k, &err) == -1);
    CHECK(strstr(err.msg, "paragraph") != NULL);
}

/* Property: on random bytes drawn from an alphabet rich in terminators,
 * closers and spaces, every segmenter partitions the text. */
static void test_random_partition(void) {
    static const char *alphabet[] = {".", "!", "?", " ", "\n", "\"", ")", "a", "B", "3", "Mr",
                                     "e.g", "\xe2\x80\xa6", "\xe3\x80\x82", "\xc2\xa0", "\xff",
                                     "\xe2\x80", "\0", "\t", "U.S"};
    pst_rng rng;
    pst_rng_seed(&rng, 7);
    char buf[512];
    int ok = 1;
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = 0, want = pst_rng_below(&rng, 120);
        while (len < want) {
            const char *a = alphabet[pst_rng_below(&rng, sizeof alphabet / sizeof *alphabet)];
            size_t al = a[0] ? strlen(a) : 1;
            memcpy(buf + len, a, al);
            len += al;
        }
        for (int k = 0; k < 3; k++) {
            pst_span *sp;
            size_t n;
            pst_error err;
            if (pst_segment((pst_segmenter)k, buf, len, &sp, &n, &err) != 0 ||
                !is_partition(sp, n, len))
                ok = 0;
            free(sp);
        }
    }
    CHECK(ok);
}

int main(void) {
    test_sentences();
    test_lines_and_documents();
    test_parse();
    test_random_partition();
    return check_report();
}
