"""Reading people's CSV files into the table: leads and activities (`reawake leads|activities import`)."""
