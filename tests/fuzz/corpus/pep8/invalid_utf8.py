x = "café"
y = 1
if x :
    z = "ÿþ"  # Ã(
