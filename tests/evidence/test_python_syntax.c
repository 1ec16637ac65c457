/* python-compiles on hand-made snippets, one or more per rule of
 * src/evidence/python_syntax.c. The expected answers are Python 3.11's:
 * each was checked with compile(text, "<x>", "exec") (accepted unless it
 * raises SyntaxError or ValueError; SyntaxWarnings accepted) when this file
 * was written. Also: the finding (kind, first error's position), NUL bytes
 * (which only the API can pass: JSON texts stop at them), and the context
 * (b(x, c) checks c + x). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "posterior/scorer.h"

typedef struct {
    const char *rule, *text;
    int compiles; /* compile()'s verdict */
} hand_case;

static const hand_case cases[] = {
    {"plain module", "import os\n\ndef f(x, *args, y=1, **kw):\n    return x + y\n", 1},
    {"empty text", "", 1},
    {"comments only", "# nothing\n\n# here\n", 1},
    {"no final newline", "x = 1", 1},
    {"return outside function", "return 1\n", 0},
    {"return in class body", "class C:\n    return 1\n", 0},
    {"return in method", "class C:\n    def f(self):\n        return 1\n", 1},
    {"yield outside function", "yield 1\n", 0},
    {"yield in lambda", "f = lambda: (yield)\n", 1},
    {"yield in list comprehension", "def f():\n    return [(yield x) for x in y]\n", 0},
    {"yield from in async def", "async def f():\n    yield from g()\n", 0},
    {"return value in async generator", "async def f():\n    yield 1\n    return 2\n", 0},
    {"bare return in async generator", "async def f():\n    yield 1\n    return\n", 1},
    {"await at module level", "await x\n", 0},
    {"await in plain def", "def f():\n    await x\n", 0},
    {"await in async def", "async def f():\n    await x\n", 1},
    {"await in genexp at module level", "g = (await x for x in y)\n", 1},
    {"await in lambda in async def", "async def f():\n    g = lambda: await x\n", 0},
    {"async for at module level", "async for x in y:\n    pass\n", 0},
    {"async with in plain def", "def f():\n    async with x:\n        pass\n", 0},
    {"async for in async def", "async def f():\n    async for x in y:\n        pass\n", 1},
    {"async comprehension in plain def", "def f():\n    return [x async for x in y]\n", 0},
    {"break outside loop", "break\n", 0},
    {"continue outside loop", "if x:\n    continue\n", 0},
    {"break in loop else", "for x in y:\n    pass\nelse:\n    break\n", 0},
    {"break in nested def in loop", "while 1:\n    def f():\n        break\n", 0},
    {"continue in finally in loop", "for x in y:\n    try:\n        pass\n    finally:\n        continue\n", 1},
    {"assign to literal", "1 = x\n", 0},
    {"assign to call", "f() = 1\n", 0},
    {"assign to None", "None = 1\n", 0},
    {"assign to __debug__", "__debug__ = 1\n", 0},
    {"assign to operator", "a + b = c\n", 0},
    {"augmented assign to tuple", "a, b += 1\n", 0},
    {"annotated tuple", "a, b: int\n", 0},
    {"annotated attribute", "a.b: int = 1\n", 1},
    {"starred assign alone", "*a = b\n", 0},
    {"starred assign in tuple", "*a, b = c\n", 1},
    {"two starred targets", "*a, *b = c\n", 0},
    {"starred expression statement", "*a\n", 0},
    {"starred value", "x = *a\n", 0},
    {"starred value in tuple", "x = *a, b\n", 1},
    {"del literal", "del 1\n", 0},
    {"del call", "del f()\n", 0},
    {"for target call", "for f() in y:\n    pass\n", 0},
    {"with as literal", "with a as 1:\n    pass\n", 0},
    {"walrus to attribute", "(a.b := 1)\n", 0},
    {"walrus unparenthesised", "x := 1\n", 0},
    {"walrus in comprehension condition", "[y for x in z if (y := x)]\n", 1},
    {"nonlocal at module level", "nonlocal x\n", 0},
    {"nonlocal without binding", "def f():\n    nonlocal x\n", 0},
    {"nonlocal with binding", "def f():\n    x = 1\n    def g():\n        nonlocal x\n        x = 2\n", 1},
    {"nonlocal binding through class", "def f():\n    x = 1\n    class C:\n        def g(self):\n            nonlocal x\n", 1},
    {"nonlocal in class at module level", "class C:\n    nonlocal x\n", 0},
    {"parameter and global", "def f(x):\n    global x\n", 0},
    {"assigned before global", "def f():\n    x = 1\n    global x\n", 0},
    {"global at module level", "global x\nx = 1\n", 1},
    {"duplicate argument", "def f(a, a):\n    pass\n", 0},
    {"duplicate lambda argument", "f = lambda a, *a: 0\n", 0},
    {"non-default after default", "def f(a=1, b):\n    pass\n", 0},
    {"keyword-only without default after default", "def f(a=1, *, b):\n    pass\n", 1},
    {"bare star last", "def f(a, *):\n    pass\n", 0},
    {"bare star then kwargs", "def f(*, **k):\n    pass\n", 0},
    {"positional-only", "def f(a, /, b, *, c):\n    pass\n", 1},
    {"slash first", "def f(/, a):\n    pass\n", 0},
    {"two stars", "def f(*a, *b):\n    pass\n", 0},
    {"args after kwargs", "def f(**k, a):\n    pass\n", 0},
    {"positional after keyword argument", "f(a=1, b)\n", 0},
    {"unpacking after keyword unpacking", "f(**k, *a)\n", 0},
    {"repeated keyword argument", "f(a=1, a=2)\n", 0},
    {"generator not sole argument", "f(x for x in y, 1)\n", 0},
    {"generator sole argument", "f(x for x in y)\n", 1},
    {"keyword argument as attribute", "f(a.b=1)\n", 0},
    {"f-string ok", "x = f'{a!r:>{w}} {b=} {c:%Y}' f\"{d['k']}\"\n", 1},
    {"f-string empty expression", "x = f'{}'\n", 0},
    {"f-string bad conversion", "x = f'{a!z}'\n", 0},
    {"f-string single brace", "x = f'a}b'\n", 0},
    {"f-string backslash in expression", "x = f'{\"\\n\".join(a)}'\n", 0},
    {"f-string comment", "x = f'{a#}'\n", 0},
    {"f-string nested too deeply", "x = f'{a:{b:{c}}}'\n", 0},
    {"f-string bad expression", "x = f'{a +}'\n", 0},
    {"f-string await outside async", "def f():\n    return f'{await x}'\n", 0},
    {"bytes non-ASCII", "x = b'caf\xc3\xa9'\n", 0},
    {"bytes mixed with str", "x = b'a' 'b'\n", 0},
    {"invalid escape is a warning", "x = '\\d'\n", 1},
    {"truncated \\x escape", "x = '\\x4'\n", 0},
    {"\\N without braces", "x = '\\N'\n", 0},
    {"\\U out of range", "x = '\\U00110000'\n", 0},
    {"raw string keeps \\x", "x = r'\\x4'\n", 1},
    {"future after docstring", "'''doc'''\nfrom __future__ import annotations\nx = 1\n", 1},
    {"future after statement", "x = 1\nfrom __future__ import annotations\n", 0},
    {"future unknown feature", "from __future__ import nosuch\n", 0},
    {"future braces", "from __future__ import braces\n", 0},
    {"future inside function", "def f():\n    from __future__ import annotations\n", 0},
    {"import star in function", "def f():\n    from os import *\n", 0},
    {"unexpected indent", "x = 1\n    y = 2\n", 0},
    {"expected indented block", "if x:\npass\n", 0},
    {"unindent mismatch", "if x:\n        a = 1\n    b = 2\n", 0},
    {"tabs and spaces", "if x:\n\tif y:\n        pass\n", 0},
    {"unclosed bracket", "x = (1,\n", 0},
    {"unterminated string", "x = 'abc\n", 0},
    {"unterminated triple-quoted string", "x = '''abc\n", 0},
    {"invalid character", "x = 1 $ 2\n", 0},
    {"BOM character", "\xef\xbb\xbfx = 1\n", 0},
    {"non-ASCII identifier", "caf\xc3\xa9 = 1\n", 1},
    {"match statement", "match p:\n    case [1, *rest] | {'k': _} if rest:\n        pass\n    case Point(x=0) as q:\n        pass\n", 0},
    {"match as a name", "match = 1\nmatch(x)\n", 1},
    {"except star and except", "try:\n    pass\nexcept* A:\n    pass\nexcept B:\n    pass\n", 0},
    {"default except not last", "try:\n    pass\nexcept:\n    pass\nexcept A:\n    pass\n", 0},
    {"try without handler", "try:\n    pass\nx = 1\n", 0},
    {"multiple exception types unparenthesised", "try:\n    pass\nexcept A, B:\n    pass\n", 0},
    {"parenthesised with items", "with (open(a) as f, open(b) as g):\n    pass\n", 1},
    {"decorators and class", "@dec(1)\n@a.b\nclass C(B, metaclass=M):\n    x: int = 1\n", 1},
    {"conditional without else", "x = a if b\n", 0},
    {"dict value starred", "x = {a: *b}\n", 0},
    {"subscript with starred", "x = a[*b]\n", 1},
    {"chained comparison and slices", "x = a[1:2, ::3] if 0 < b <= c is not d not in e else -f ** 2\n", 1},
    {"print statement", "print 'x'\n", 0},
    {"lambda defaults and keyword-only", "f = lambda a, b=1, *c, d, **e: a\n", 1},
    {"trailing comma in from import", "from a import b,\n", 0},
    {"parenthesised from import", "from . import (a as b, c,)\n", 1},
    {"match: alternatives bind different names", "match p:\n    case [1, *rest] | {'k': _} if rest:\n        pass\n", 0},
    {"match: same names in alternatives", "match p:\n    case [1, *rest] | [*rest]:\n        pass\n", 1},
    {"match: capture before another case", "match p:\n    case x:\n        pass\n    case 1:\n        pass\n", 0},
    {"match: guarded capture", "match p:\n    case x if x:\n        pass\n    case 1:\n        pass\n", 1},
    {"match: wildcard last", "match p:\n    case _:\n        pass\n", 1},
    {"match: capture not last alternative", "match p:\n    case x | 1:\n        pass\n", 0},
    {"match: alternative without the capture", "match p:\n    case 1 | x:\n        pass\n", 0},
    {"match: name bound twice", "match p:\n    case [x, x]:\n        pass\n", 0},
    {"match: same capture in both alternatives", "match p:\n    case (x | x):\n        pass\n", 0},
    {"match: two starred names", "match p:\n    case [a, *b, *c]:\n        pass\n", 0},
    {"match: open sequence", "match p:\n    case a, *b:\n        pass\n", 1},
    {"match: class pattern and as", "match p:\n    case Point(x=0, y=yy) as q:\n        pass\n", 1},
    {"match: mapping with rest", "match p:\n    case {'a': 1, **rest}:\n        pass\n", 1},
    {"match: literal alternatives", "match p:\n    case -1 | 1+2j | 'a' 'b' | None | C.D:\n        pass\n", 1},
    {"match: group capture before another case", "match p:\n    case (x):\n        pass\n    case 2:\n        pass\n", 0},
    {"match: as on a group capture", "match p:\n    case (x) as y:\n        pass\n    case 2:\n        pass\n", 0},
    {"match: f-string pattern", "match p:\n    case f'{x}':\n        pass\n", 0},
    {"match: as binds the capture again", "match p:\n    case x as x:\n        pass\n", 0},
    {"match: tuple subject", "match p, q:\n    case 1, 2:\n        pass\n", 1},
    {"match: starred subject", "match *p, q:\n    case 1, 2:\n        pass\n", 1},
    {"match: match as an ordinary name", "match(x)\nmatch[1] = 2\nmatch.a = 1\n", 1},
};

/* b for one text (with an optional context); the first finding in *f. */
static double score_one(pst_scorer *s, const char *text, size_t len, const char *context, pst_finding *f) {
    pst_score out;
    pst_error err = {0};
    pst_score_options opt = {0};
    opt.findings = 1;
    const char *contexts[1] = {context};
    int rc = pst_scorer_score(s, 1, &text, &len, context ? contexts : NULL, &opt, &out, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return -1;
    double b = out.score;
    memset(f, 0, sizeof *f);
    CHECK(out.n_findings == (b == 0 ? 1u : 0u));
    if (out.n_findings) *f = out.findings[0];
    pst_score_clear(&out);
    return b;
}

int main(void) {
    pst_scorer *s;
    pst_error err = {0};
    CHECK(pst_scorer_create("python-compiles", &s, &err) == 0);
    CHECK(pst_scorer_kind_of(s) == PST_SCORER_POINTWISE);
    size_t n = sizeof cases / sizeof cases[0], agree = 0, accepted = 0;
    for (size_t i = 0; i < n; i++) {
        pst_finding f;
        double b = score_one(s, cases[i].text, strlen(cases[i].text), NULL, &f);
        CHECK_MSG(b == cases[i].compiles, "%s: b = %g, compile() %s", cases[i].rule, b,
                  cases[i].compiles ? "accepts" : "rejects");
        agree += b == cases[i].compiles;
        accepted += (size_t)cases[i].compiles;
    }
    printf("%zu hand-made cases (%zu accepted by compile()), %zu agree\n", n, accepted, agree);
    CHECK(n >= 40 && accepted >= 20 && n - accepted >= 20);

    pst_finding f;
    /* the finding points at the first error: the second line's ')' */
    const char *t = "x = 1\ny = (1, )) \n";
    CHECK(score_one(s, t, strlen(t), NULL, &f) == 0);
    CHECK(!strcmp(f.type, "syntax"));
    CHECK_MSG(f.start == 15, "start %zu", f.start);
    t = "if x:\n    a = 1\n  b = 2\n";
    CHECK(score_one(s, t, strlen(t), NULL, &f) == 0);
    CHECK_MSG(!strcmp(f.type, "indent"), "%s", f.type);
    /* NUL bytes: compile() raises ValueError */
    const char nul[] = "x = 1\0\n";
    CHECK(score_one(s, nul, sizeof nul - 1, NULL, &f) == 0);
    CHECK(!strcmp(f.type, "null"));
    /* not UTF-8: a Python str cannot hold it */
    t = "x = '\xff'\n";
    CHECK(score_one(s, t, strlen(t), NULL, &f) == 0);
    CHECK(!strcmp(f.type, "utf-8"));
    /* with a context, b(x, c) checks c + x; the finding's offset is in x */
    t = "    return x\n";
    CHECK(score_one(s, t, strlen(t), NULL, &f) == 0);
    CHECK(score_one(s, t, strlen(t), "def f(x):\n", &f) == 1);
    t = "    return x +\n";
    CHECK(score_one(s, t, strlen(t), "def f(x):\n", &f) == 0);
    CHECK_MSG(f.start == 14, "start %zu", f.start);
    /* deep nesting is an error, not a crash */
    size_t deep = 100000;
    char *d = malloc(deep + 2);
    memset(d, '(', deep);
    d[deep] = '\n', d[deep + 1] = 0;
    CHECK(score_one(s, d, deep + 1, NULL, &f) == 0);
    memset(d, '-', deep);
    d[deep - 1] = '1';
    CHECK(score_one(s, d, deep + 1, NULL, &f) == 0);
    free(d);
    pst_scorer_free(s);
    return check_report();
}
