#include <cstdio>

#include "vpmoe/version.h"

int main() {
  std::printf("vpmoe-host %s\n", VPMOE_VERSION);
  return 0;
}
