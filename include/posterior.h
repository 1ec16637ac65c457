/* posterior — the public C API. One header per layer; include this one for all. */
#ifndef POSTERIOR_H
#define POSTERIOR_H
#include "posterior/base.h"
#include "posterior/prior.h"
#endif
