/* placeholder: replaced by the real snippet */
