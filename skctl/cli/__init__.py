"""Everything the command line is: the entry point, the parser and dispatch, argparse `type=`
checks, completions, terminal output and one module per command (commands/). Nothing below
imports it."""
