"""What every function of the image service uses: layouts, environment, the image record, the AWS edges."""
