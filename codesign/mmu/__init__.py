"""MMU virtualization mechanisms: how a guest's virtual addresses reach host memory."""
