// snapshot tests come next
