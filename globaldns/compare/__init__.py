"""`globaldns compare`: the cut-over check between a running resolver and our globaldns."""
