/* Prompts files (corpus.h): one prompt per line; an empty line is an error naming it. */
#include "check.h"
#include "posterior/corpus.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

int main(void) {
    char path[] = "/tmp/pst_prompts_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    pst_prompts p;
    pst_error err = {0};

    write_text(path, "The year 1999\r\nHello, world\nlast line without newline");
    CHECK(pst_prompts_read(path, &p, &err) == 0);
    CHECK(p.n == 3);
    CHECK(p.n == 3 && !strcmp(p.text[0], "The year 1999") && !strcmp(p.text[2], "last line without newline"));
    CHECK(p.n == 3 && p.line[0] == 1 && p.line[1] == 2 && p.line[2] == 3);
    pst_prompts_free(&p);
    CHECK(p.n == 0 && p.text == NULL);

    write_text(path, "one\ntwo\n");
    CHECK(pst_prompts_read(path, &p, &err) == 0 && p.n == 2);
    pst_prompts_free(&p);
    write_text(path, "one\ntwo\n\n \r\n\n"); /* blank lines at the end: the file's end */
    CHECK(pst_prompts_read(path, &p, &err) == 0 && p.n == 2);
    pst_prompts_free(&p);

    write_text(path, "one\n\nthree\n");
    CHECK(pst_prompts_read(path, &p, &err) == -1);
    CHECK_MSG(strstr(err.msg, ":2: empty prompt") != NULL, "%s", err.msg);
    write_text(path, "one\n  \t\r\nthree\n");
    CHECK(pst_prompts_read(path, &p, &err) == -1);
    CHECK_MSG(strstr(err.msg, ":2: empty prompt") != NULL, "%s", err.msg);
    write_text(path, "");
    CHECK(pst_prompts_read(path, &p, &err) == -1);
    CHECK_MSG(strstr(err.msg, "no prompt") != NULL, "%s", err.msg);
    FILE *f = fopen(path, "wb");
    fwrite("ab\0c\n", 1, 5, f);
    fclose(f);
    CHECK(pst_prompts_read(path, &p, &err) == -1);
    CHECK_MSG(strstr(err.msg, ":1:") && strstr(err.msg, "NUL"), "%s", err.msg);
    unlink(path);
    CHECK(pst_prompts_read(path, &p, &err) == -1);

    /* .jsonl: JSON strings (or {"prompt": ...}), so a prompt may span lines */
    char jpath[64];
    snprintf(jpath, sizeof jpath, "%s.jsonl", path);
    write_text(jpath, "\"def f(x):\\n    \\\"Doc.\\\"\\n\"\n{\"prompt\": \"two\"}\n");
    CHECK(pst_prompts_read(jpath, &p, &err) == 0 && p.n == 2);
    CHECK(p.n == 2 && !strcmp(p.text[0], "def f(x):\n    \"Doc.\"\n") && !strcmp(p.text[1], "two"));
    pst_prompts_free(&p);
    write_text(jpath, "\"ok\"\n42\n");
    CHECK(pst_prompts_read(jpath, &p, &err) == -1);
    CHECK_MSG(strstr(err.msg, ".jsonl:2: not a JSON string") != NULL, "%s", err.msg);
    write_text(jpath, "\"ok\"\n\" \"\n");
    CHECK(pst_prompts_read(jpath, &p, &err) == -1);
    CHECK_MSG(strstr(err.msg, ".jsonl:2: empty prompt") != NULL, "%s", err.msg);
    unlink(jpath);
    return check_report();
}
