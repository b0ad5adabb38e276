/* info.h - `nasc info`: what a spec describes, for people and for programs. */
#ifndef NASC_INFO_H
#define NASC_INFO_H

#include <stdio.h>

#include "model.h"

void info_text(FILE *out, const Model *m);
void info_json(FILE *out, const Model *m);

#endif
