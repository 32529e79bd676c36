// vpmoe-host: the command line lives in cli/ (one file per command, table in commands.cpp).
#include "cli/cli.h"

int main(int argc, char** argv) {
  return vpmoe::host::cli::main(argc, argv);
}
