"""Apply: the only writer, carrying out a plan with an installer."""
