"""随手报 Suishoubao: the core and the program."""
