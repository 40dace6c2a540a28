# plugin build
