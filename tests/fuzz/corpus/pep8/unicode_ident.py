café = 1
π=3
x = café+π
# ünïcode comment that is quite long and goes on and on and on and on and on
