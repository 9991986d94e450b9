"""The avatar service: .glb upload, validation, behaviour maps, optimization, previews and the default avatar."""
