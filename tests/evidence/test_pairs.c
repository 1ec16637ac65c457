/* Preference pairs (pairs.h): reading keeps good lines and names bad ones by line;
 * writing then reading gives the same pairs back, as valid UTF-8 JSON. */
#include "check.h"
#include "posterior/pairs.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static int has_skip(const pst_pair_set *s, long line, const char *word) {
    for (size_t i = 0; i < s->skipped; i++)
        if (s->skips[i].line == line && strstr(s->skips[i].reason, word)) return 1;
    return 0;
}

static void test_read_skips_bad_lines(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/pairs.jsonl", dir);
    write_text(path,
               "{\"prompt\": \"Hi\", \"chosen\": \"a <b>\", \"rejected\": \"c\"}\n"   /* 1 ok */
               "\n"                                                                /* 2 blank */
               "{\"prompt\": \"\", \"chosen\": \"x\", \"rejected\": \"y\", \"tie\": true}\n" /* 3 ok */
               "{\"prompt\": \"p\", \"chosen\": \"x\"\n"                           /* 4 malformed */
               "{\"prompt\": \"p\", \"chosen\": \"x\"}\n"                          /* 5 no rejected */
               "{\"prompt\": \"p\", \"chosen\": \"\", \"rejected\": \"y\"}\n"     /* 6 empty */
               "{\"prompt\": \"p\", \"chosen\": \"same\", \"rejected\": \"same\"}\n" /* 7 identical */
               "{\"prompt\": \"p\", \"chosen\": \"x\", \"rejected\": \"y\", \"tie\": 1}\n" /* 8 tie */
               "[1, 2]\n"                                                          /* 9 not object */
               "  {\"prompt\": \"q\", \"chosen\": \"1\", \"rejected\": \"2\"}  \r\n"); /* 10 ok */
    pst_pair_set s;
    pst_error err = {0};
    CHECK(pst_pairs_read(path, &s, &err) == 0);
    CHECK(s.n == 3);
    CHECK(s.skipped == 6);
    CHECK(s.n == 3 && s.pairs[0].line == 1 && s.pairs[1].line == 3 && s.pairs[2].line == 10);
    CHECK(s.n == 3 && !strcmp(s.pairs[0].chosen, "a <b>") && !strcmp(s.pairs[0].prompt, "Hi"));
    CHECK(s.n == 3 && s.pairs[1].tie == 1 && s.pairs[0].tie == 0 && !strcmp(s.pairs[1].prompt, ""));
    CHECK(has_skip(&s, 4, "not a JSON object"));
    CHECK(has_skip(&s, 5, "\"rejected\""));
    CHECK(has_skip(&s, 6, "empty"));
    CHECK(has_skip(&s, 7, "same text"));
    CHECK(has_skip(&s, 8, "tie"));
    CHECK(has_skip(&s, 9, "not a JSON object"));
    pst_pair_set_free(&s);
    CHECK(s.n == 0 && s.pairs == NULL);
}

static void test_errors(const char *dir) {
    char path[512];
    pst_pair_set s;
    pst_error err = {0};
    snprintf(path, sizeof path, "%s/bad.jsonl", dir);
    write_text(path, "not json\n{\"chosen\": \"a\"}\n");
    CHECK(pst_pairs_read(path, &s, &err) == -1);
    CHECK_MSG(strstr(err.msg, "bad.jsonl") && strstr(err.msg, "no usable") && strstr(err.msg, "2 lines"),
              "%s", err.msg);
    snprintf(path, sizeof path, "%s/missing.jsonl", dir);
    CHECK(pst_pairs_read(path, &s, &err) == -1);
    CHECK_MSG(strstr(err.msg, "missing.jsonl") != NULL, "%s", err.msg);
}

static void test_round_trip(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/out.jsonl", dir);
    pst_pair in[3] = {
        {"Say hi", "hi \"there\"\n<script>alert(1)</script>", "bye\t\\", 0, 0},
        {"", "caf\xc3\xa9", "bad \xff byte", 1, 0},
        {NULL, "a", "b", 0, 0},
    };
    pst_error err = {0};
    CHECK(pst_pairs_write(path, in, 3, &err) == 0);
    pst_pair_set s;
    CHECK(pst_pairs_read(path, &s, &err) == 0);
    CHECK(s.n == 3 && s.skipped == 0);
    for (size_t i = 0; i < 2 && s.n == 3; i++) {
        CHECK(!strcmp(s.pairs[i].prompt, in[i].prompt));
        CHECK(!strcmp(s.pairs[i].chosen, in[i].chosen));
        CHECK(s.pairs[i].tie == in[i].tie);
    }
    /* an invalid byte is written as U+FFFD, so the file stays valid UTF-8 */
    CHECK(s.n == 3 && !strcmp(s.pairs[1].rejected, "bad \xef\xbf\xbd byte"));
    CHECK(s.n == 3 && !strcmp(s.pairs[2].prompt, ""));
    pst_pair_set_free(&s);
    /* a failed write leaves the previous file intact */
    pst_pair broken = {"p", NULL, "r", 0, 0};
    CHECK(pst_pairs_write(path, &broken, 1, &err) == -1);
    CHECK(pst_pairs_read(path, &s, &err) == 0 && s.n == 3);
    pst_pair_set_free(&s);
}

int main(void) {
    char dir[] = "/tmp/pst_pairs_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_read_skips_bad_lines(dir);
    test_errors(dir);
    test_round_trip(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) return 1;
    return check_report();
}
